import type { MemorySample } from '../lib/probe';
import { formatNumber } from '../lib/report';
import { sleep } from '../lib/stats';
import type { ScenarioContext } from '../lib/context';
import type { Scenario } from './types';

const MB = 1024 * 1024;

/**
 * (g) A consumer that reads slowly. A producer publishes `behind` tokens to a
 * stream nobody follows yet (the log holds them), then a subscriber joins from
 * seq 0 and reads 2,000 tokens/s (it pauses its call between chunks, so HTTP/2
 * flow control pushes back on the server), while the producer tries to publish
 * as many tokens again (backpressure must hold it). Server memory is sampled
 * while the subscriber is at least 200,000 tokens behind. The growth judged is
 * from a GC'd sample taken after the log was written, just before the
 * subscriber joined, to the peak while it reads slowly: what a slow consumer
 * costs. The log of the tokens it has not read (kept whether anyone is slow or
 * not: it is the stream's retained log) is reported beside it. A fresh server
 * per repetition.
 */
export const slowConsumer: Scenario = {
  id: 'g',
  title: 'a consumer that reads slowly: server memory growth while it is 200,000 tokens behind',
  async run(context) {
    const reps = context.reps(3, 1);
    const behind = 250_000;
    const readTokensPerSecond = 2000;
    const watchMs = context.size(6000, 1500);
    const growthRss: number[] = [];
    const growthHeap: number[] = [];
    const logRss: number[] = [];
    const logHeap: number[] = [];
    const minLag: number[] = [];
    let textBytes = 0;
    for (let rep = 0; rep < reps; rep++) {
      const relay = await context.relay();
      const producer = context.worker('producer');
      const consumer = context.worker('consumer');
      const streamId = `g-${rep}`;
      await producer.call('publish.open', { address: relay.address, streamId: 'g-warmup' });
      await producer.call('publish.burst', { streamId: 'g-warmup', tokens: 20_000, chunkTokens: 512, seed: 9, end: true });
      await sleep(200);
      const base: MemorySample = await relay.memory(true);
      await producer.call('publish.open', { address: relay.address, streamId });
      const published = await producer.call<{ textBytes: number }>('publish.burst', {
        streamId,
        tokens: behind,
        chunkTokens: 512,
        seed: 9,
        end: false,
      });
      const logged: MemorySample = await relay.memory(true);
      textBytes = published.textBytes;
      await consumer.call('subscribe.start', { address: relay.address, streamId, fromSeq: 0, tokensPerSecond: readTokensPerSecond });
      await producer.call('publish.start', { streamId, tokens: behind, chunkTokens: 512, seed: 10, end: false });
      let peakRss = 0;
      let peakHeap = 0;
      const until = Date.now() + watchMs;
      while (Date.now() < until) {
        await sleep(250);
        const sample = await relay.memory(false);
        peakRss = Math.max(peakRss, sample.rss);
        peakHeap = Math.max(peakHeap, sample.heapUsed + sample.external);
      }
      const end: MemorySample = await relay.memory(true);
      const read = (await consumer.call<{ tokens: number }>('subscribe.progress', { streamId })).tokens;
      const written = (await producer.call<{ written: number }>('publish.progress', { streamId })).written;
      minLag.push(behind - read);
      growthRss.push((Math.max(peakRss, end.rss) - logged.rss) / MB);
      growthHeap.push((Math.max(peakHeap, end.heapUsed + end.external) - logged.heapUsed - logged.external) / MB);
      logRss.push((logged.rss - base.rss) / MB);
      logHeap.push((logged.heapUsed + logged.external - base.heapUsed - base.external) / MB);
      context.log(
        `rep ${rep + 1}/${reps}: consumer read ${formatNumber(read)}, ≥ ${formatNumber(behind - read)} behind; producer wrote ` +
          `${formatNumber(written - behind)} more (grpc-js took them; the server holds it back); ` +
          `growth while behind: RSS +${growthRss[rep].toFixed(1)} MB, heap+external +${growthHeap[rep].toFixed(1)} MB; ` +
          `the log itself: RSS +${logRss[rep].toFixed(1)} MB, heap+external +${logHeap[rep].toFixed(1)} MB`,
      );
      await consumer.call('subscribe.cancel', { streamId });
      await producer.call('publish.cancel', { streamId });
      await producer.call('clients.close', { address: relay.address });
      await consumer.call('clients.close', { address: relay.address });
      await context.stop(relay);
    }
    const label = `slow subscriber (${formatNumber(readTokensPerSecond)} tokens/s) ≥ ${formatNumber(Math.min(...minLag))} tokens behind`;
    const rssRow = context.row(`server memory growth while the ${label}, peak RSS`, 'MB', growthRss);
    context.row(`server memory growth while the ${label}, peak V8 heap used + external`, 'MB', growthHeap);
    const logRow = context.row(
      `the log of the ${formatNumber(behind)} tokens it has not read (GC'd RSS, before the stream → after publishing)`,
      'MB',
      logRss,
    );
    context.row(`the same, V8 heap used + external`, 'MB', logHeap);
    const perToken = (megabytes: number[], tokens: number, text: number) => megabytes.map((mb) => (mb * MB - text) / tokens);
    context.row(
      `the log, bytes per token beyond its text (${formatNumber(behind)} tokens, heap used + external)`,
      'B',
      perToken(logHeap, behind, textBytes),
    );
    context.row(`the same, RSS`, 'B', perToken(logRss, behind, textBytes));
    const big = await logCost(context, 2_000_000);
    const bigRow = context.row(`the log, bytes per token beyond its text (2M tokens, heap used + external)`, 'B', big.heap);
    context.row(`the same, RSS`, 'B', big.rss);
    context.check(
      'the log costs ≤ 8 bytes per token beyond its text (2M tokens, heap used + external)',
      bigRow.summary.median <= 8,
      `${bigRow.summary.median.toFixed(1)} B per token (${(textBytes / behind).toFixed(1)} B of text per token)`,
    );
    context.check(
      'server memory growth < 10 MB while the slow consumer is 200,000 tokens behind (growth during the slow read)',
      rssRow.summary.median < 10 && Math.min(...minLag) >= 200_000,
      `+${rssRow.summary.median.toFixed(1)} MB peak RSS (+ ${logRow.summary.median.toFixed(1)} MB for the log of the unread tokens, before)`,
    );
  },
};

/**
 * What a log of `tokens` tokens costs the server beyond their text, per
 * token: a fresh server, a warm-up stream, a GC'd sample, then one Publish of
 * the tokens (not ended: nobody reads, the log holds them), and a GC'd sample.
 */
async function logCost(context: ScenarioContext, tokens: number): Promise<{ heap: number[]; rss: number[] }> {
  const heap: number[] = [];
  const rss: number[] = [];
  for (let rep = 0; rep < context.reps(2, 1); rep++) {
    const relay = await context.relay();
    const producer = context.worker('producer');
    await producer.call('publish.open', { address: relay.address, streamId: 'warmup' });
    await producer.call('publish.burst', { streamId: 'warmup', tokens: 20_000, chunkTokens: 512, seed: 9, end: true });
    await sleep(200);
    const base: MemorySample = await relay.memory(true);
    await producer.call('publish.open', { address: relay.address, streamId: 'big' });
    const published = await producer.call<{ textBytes: number }>('publish.burst', {
      streamId: 'big',
      tokens,
      chunkTokens: 512,
      seed: 9,
      end: false,
    });
    const logged: MemorySample = await relay.memory(true);
    heap.push((logged.heapUsed + logged.external - base.heapUsed - base.external - published.textBytes) / tokens);
    rss.push((logged.rss - base.rss - published.textBytes) / tokens);
    context.log(
      `${formatNumber(tokens)} tokens (${(published.textBytes / MB).toFixed(1)} MB of text): heap used + external ` +
        `${heap[rep].toFixed(1)} B per token beyond the text, RSS ${rss[rep].toFixed(1)} B`,
    );
    await producer.call('publish.cancel', { streamId: 'big' });
    await producer.call('clients.close', { address: relay.address });
    await context.stop(relay);
  }
  return { heap, rss };
}
