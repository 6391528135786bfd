import type { BurstResult } from '../load/publish';
import { formatNumber } from '../lib/report';
import type { ServerChild } from '../lib/servers';
import type { LoadWorker } from '../lib/workers';
import type { Scenario } from './types';

/** Tokens per Publish message: an external producer that has tokens ready sends them a few at a time. */
const PUBLISH_CHUNK_TOKENS = 64;

/**
 * One repetition: the producer (one process) opens the stream and writes a
 * primer token; the consumer (another process) subscribes from seq 0 and
 * waits for it, so it is attached before the clock starts; then the producer
 * bursts the tokens. Rate = tokens / (producer's first write → consumer's
 * last token), both on CLOCK_MONOTONIC.
 */
async function once(producer: LoadWorker, consumer: LoadWorker, relay: ServerChild, streamId: string, tokens: number) {
  await producer.call('publish.open', { address: relay.address, streamId });
  const attached = consumer.call('subscribe.start', { address: relay.address, streamId, fromSeq: 0, tokensPerSecond: 0 });
  await producer.call('publish.primer', { streamId });
  await attached;
  const finished = consumer.call<{ tokens: number; messages: number; lastNs: number; error?: string }>('subscribe.wait', { streamId });
  const burst = await producer.call<BurstResult>('publish.burst', {
    streamId,
    tokens,
    chunkTokens: PUBLISH_CHUNK_TOKENS,
    seed: 3,
    end: true,
  });
  const seen = await finished;
  if (seen.error || seen.tokens !== tokens + 1) throw new Error(`subscriber saw ${seen.tokens} of ${tokens + 1} tokens: ${seen.error}`);
  return { rate: tokens / ((seen.lastNs - burst.startNs) / 1e9), tokensPerMessage: seen.tokens / seen.messages };
}

/** (b) The same single unpaced stream, through the relay path: Publish → Subscribe. */
export const publishSubscribe: Scenario = {
  id: 'b',
  title: 'one stream, unpaced, Publish → Subscribe: tokens/s',
  async run(context) {
    const reps = context.reps(5, 2);
    const tokens = context.size(1_000_000, 100_000);
    const producer = context.worker('producer');
    const consumer = context.worker('consumer');
    const relay = await context.relay();
    await once(producer, consumer, relay, 'b-warmup', tokens * context.size(1, 0.5)); // unmeasured: JIT, connections
    const rates: number[] = [];
    const perMessage: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const result = await once(producer, consumer, relay, `b-${rep}`, tokens);
      rates.push(result.rate);
      perMessage.push(result.tokensPerMessage);
      context.log(`rep ${rep + 1}/${reps}: ${formatNumber(result.rate)} tokens/s`);
    }
    context.row(
      `tokenrelay Publish (${PUBLISH_CHUNK_TOKENS} tokens/message) → Subscribe, 1 stream × ${formatNumber(tokens)} tokens`,
      'tokens/s',
      rates,
      { publishChunkTokens: PUBLISH_CHUNK_TOKENS },
    );
    context.row('tokens per TokenChunk the subscriber got (coalescing)', 'tokens', perMessage);
  },
};
