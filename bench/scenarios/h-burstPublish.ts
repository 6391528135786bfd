import type { BurstResult } from '../load/publish';
import { formatNumber } from '../lib/report';
import type { Scenario } from './types';

/** Tokens per Publish message of the burst (the server's own coalescing bound by default is 512 too). */
const PUBLISH_CHUNK_TOKENS = 512;

/**
 * (h) A burst Publish of 1,000,000 tokens with no subscriber: tokens / (first
 * write → PublishResponse). The response comes after the half-close settle
 * window (streams.halfCloseSettleMs, default 50 ms), which is in the figure.
 * A fresh server per repetition, warmed by a smaller burst first, so the
 * retained logs of earlier repetitions do not weigh on later ones.
 */
export const burstPublish: Scenario = {
  id: 'h',
  title: 'a burst Publish of 1,000,000 tokens: tokens/s',
  async run(context) {
    const reps = context.reps(5, 1);
    const tokens = context.size(1_000_000, 200_000);
    const producer = context.worker('producer');
    const rates: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const relay = await context.relay();
      const burst = async (streamId: string, count: number) => {
        await producer.call('publish.open', { address: relay.address, streamId });
        return producer.call<BurstResult>('publish.burst', {
          streamId,
          tokens: count,
          chunkTokens: PUBLISH_CHUNK_TOKENS,
          seed: 5,
          end: true,
        });
      };
      await burst('h-warmup', tokens / 5);
      const result = await burst(`h-${rep}`, tokens);
      if (result.tokensAccepted !== tokens) throw new Error(`the server accepted ${result.tokensAccepted} of ${tokens} tokens`);
      rates.push(tokens / ((result.respondedNs - result.startNs) / 1e9));
      context.log(`rep ${rep + 1}/${reps}: ${formatNumber(rates[rep])} tokens/s`);
      await producer.call('clients.close', { address: relay.address });
      await context.stop(relay);
    }
    const row = context.row(
      `tokenrelay Publish burst, ${formatNumber(tokens)} tokens (${PUBLISH_CHUNK_TOKENS} tokens/message), no subscriber`,
      'tokens/s',
      rates,
      { publishChunkTokens: PUBLISH_CHUNK_TOKENS },
    );
    context.check('burst Publish: ≥ 500,000 tokens/s', row.summary.median >= 5e5, `${formatNumber(row.summary.median)} tokens/s`);
  },
};
