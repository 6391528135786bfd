import type { MemorySample } from '../lib/probe';
import { formatNumber } from '../lib/report';
import { sleep } from '../lib/stats';
import type { Scenario } from './types';

/**
 * (e) 10,000 concurrent streams on one connection, open and mostly idle:
 * Generate on the `idle` sim model (first token at once, then one every 2 s).
 * Server memory after a full GC (the server runs with --expose-gc and a probe,
 * see bench/lib/probe.ts) with every stream open and past its first token,
 * minus the same after a warm-up of 200 streams opened and cancelled, divided
 * by the number of streams. Then every stream must deliver its second token
 * (open and flowing). A fresh server per repetition.
 */
export const idleStreams: Scenario = {
  id: 'e',
  title: '10,000 concurrent idle streams on one connection: server memory per stream',
  async run(context) {
    const reps = context.reps(3, 1);
    const streams = context.size(10_000, 1_000);
    const rssPerStream: number[] = [];
    const heapPerStream: number[] = [];
    const openSeconds: number[] = [];
    const flowing: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const relay = await context.relay();
      const client = context.worker('client');
      const open = (count: number, purpose: string) =>
        client.call<{ seconds: number; flowing: number; errors: string[] }>('idle.open', {
          address: relay.address,
          purpose,
          model: 'idle',
          streams: count,
          maxTokens: 100,
          timeoutMs: 60_000,
        });
      await open(200, 'held');
      await client.call('idle.close');
      await sleep(300);
      const before: MemorySample = await relay.memory(true);
      const opened = await open(streams, 'held');
      if (opened.flowing !== streams)
        throw new Error(`${opened.flowing} of ${streams} streams delivered a first token: ${opened.errors.join('; ')}`);
      const after: MemorySample = await relay.memory(true);
      const second = await client.call<{ flowing: number; errors: string[] }>('idle.flowing', { minTokens: 2, timeoutMs: 15_000 });
      rssPerStream.push((after.rss - before.rss) / streams / 1024);
      heapPerStream.push((after.heapUsed + after.external - before.heapUsed - before.external) / streams / 1024);
      openSeconds.push(opened.seconds);
      flowing.push(second.flowing);
      context.log(
        `rep ${rep + 1}/${reps}: ${streams} streams open in ${opened.seconds.toFixed(2)} s; ` +
          `RSS ${formatNumber(rssPerStream[rep])} KB/stream, heap+external ${formatNumber(heapPerStream[rep])} KB/stream; ` +
          `${second.flowing} delivered a second token`,
      );
      await client.call('idle.close');
      await client.call('clients.close', { address: relay.address });
      await context.stop(relay);
    }
    const label = `${formatNumber(streams)} open streams, one connection`;
    const rssRow = context.row(`server memory per idle stream (RSS after GC), ${label}`, 'KB', rssPerStream);
    context.row(`server memory per idle stream (V8 heap used + external after GC), ${label}`, 'KB', heapPerStream);
    context.row(`time to open them all and get each one's first token`, 's', openSeconds);
    context.row(`streams that then delivered a second token (of ${formatNumber(streams)})`, 'streams', flowing);
    const allFlowing = flowing.every((count) => count === streams);
    context.check(
      `${formatNumber(streams)} streams on one connection open and flowing`,
      streams >= 10_000 ? allFlowing : null,
      `${Math.min(...flowing)} of ${streams} delivered a second token${streams < 10_000 ? ' (a --quick size)' : ''}`,
    );
    context.check('server memory < 25 KB per idle stream', rssRow.summary.median < 25, `${rssRow.summary.median.toFixed(1)} KB (RSS)`);
  },
};
