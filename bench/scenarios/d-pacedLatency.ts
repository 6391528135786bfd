import type { LatencyReport } from '../load/latency';
import type { ScenarioContext } from '../lib/context';
import { CpuMeter } from '../lib/proc';
import { formatNumber } from '../lib/report';
import type { ServerChild } from '../lib/servers';
import { nowNs, sleep } from '../lib/stats';
import type { LoadWorker } from '../lib/workers';
import type { Scenario } from './types';

export const TOKENS_PER_SECOND = 50;
/** How long after the window the tokens written in it may take to arrive; later ones count as infinitely late. */
const DELIVERY_WAIT_MS = 5000;
/**
 * Open published streams that send nothing, beside the paced ones in one
 * redis-store row: each holds a lease the replica renews, so the row shows
 * what many open streams cost the latency of the busy ones.
 */
const IDLE_STREAMS = 2000;

export interface Repetition {
  p50Ms: number;
  p99Ms: number;
  serverCpu: number;
  clientCpu: number;
  writtenPerSecond: number;
  undelivered: number;
}

/** One measurement: `streams` paced streams through `relay` for the measuring window, after a warm-up. */
export async function pacedOnce(
  context: ScenarioContext,
  relay: ServerChild,
  producer: LoadWorker,
  consumer: LoadWorker,
  streams: number,
  prefix: string,
): Promise<Repetition> {
  const warmupMs = context.size(2000, 500);
  const measureMs = context.size(10_000, 1500);
  await producer.call('latency.open', { address: relay.address, streams, prefix });
  await consumer.call('latency.subscribe', { address: relay.address, streams, prefix });
  await producer.call('latency.pace', { tokensPerSecond: TOKENS_PER_SECOND });
  await consumer.call('latency.ready', { timeoutMs: 30_000 });
  await sleep(warmupMs);
  const serverCpu = new CpuMeter(relay.pid);
  const producerCpu = new CpuMeter(producer.pid);
  const consumerCpu = new CpuMeter(consumer.pid);
  const fromNs = nowNs();
  await sleep(measureMs);
  const toNs = nowNs();
  const result = {
    serverCpu: serverCpu.shareOfOneCore() * 100,
    clientCpu: Math.max(producerCpu.shareOfOneCore(), consumerCpu.shareOfOneCore()) * 100,
  };
  const sent = await producer.call<{ sentInWindow: number }>('latency.stop', { fromNs, toNs });
  const report = await consumer.call<LatencyReport>('latency.report', {
    fromNs,
    toNs,
    expected: sent.sentInWindow,
    waitMs: DELIVERY_WAIT_MS,
  });
  if (report.errors > 0) throw new Error(`${report.errors} streams out of order or failed`);
  await sleep(500); // the streams end (half-close settle) before the next repetition
  return {
    ...result,
    p50Ms: report.p50Us / 1000,
    p99Ms: report.p99Us / 1000,
    writtenPerSecond: sent.sentInWindow / ((toNs - fromNs) / 1e9),
    undelivered: report.undelivered,
  };
}

/**
 * (d) 1,000 streams at 50 tokens/s each, through Publish → Subscribe: a
 * producer process publishes every stream on one connection, a consumer
 * process subscribes to all of them on one connection, both with the bare
 * gRPC client of load/rawGrpc.ts so the load generator is not the
 * bottleneck. Each token's text is the producer's CLOCK_MONOTONIC time at
 * write(); the consumer subtracts it from its own at arrival (the same clock:
 * both processes are on this machine). So the latency is end to end, producer
 * write() → consumer 'data' (two loopback hops and the relay): an upper bound
 * on what the relay adds. Server CPU over the same window, from
 * /proc/<pid>/stat. The full run adds 100 streams as a light-load reference,
 * the same load through a bare grpc-js forwarder (bench/baselines) as the
 * floor grpc-js itself sets, and through the same forwarding written on
 * node:http2 without grpc-js, as what a cheaper transport would allow. At
 * 100 streams it also runs the relay on the redis store, alone and beside
 * 2,000 open idle published streams (held by a third load process), whose
 * leases the replica keeps renewing: what many open streams cost the busy ones.
 */
export const pacedLatency: Scenario = {
  id: 'd',
  title: '1,000 streams at 50 tokens/s on one connection: relay latency p50/p99, server CPU',
  async run(context) {
    const reps = context.reps(3, 1);
    const producer = context.worker('producer');
    const consumer = context.worker('consumer');
    const withBaseline = context.options.baselines && !context.quick;
    const [relay, grpc, http2] = await Promise.all([
      context.relay(),
      withBaseline ? context.baseline('grpc') : undefined,
      withBaseline ? context.baseline('http2') : undefined,
    ]);
    // The redis store at 100 streams (where one process is not saturated): what the shared log adds, and what
    // 2,000 open idle streams beside them add (their leases are renewed a slice at a time, not all at once).
    const onRedis = await context.redisRelay();
    const idleProducer = context.worker('client');
    for (const streams of context.size([1000, 100], [1000, 100])) {
      const label = `${streams} streams × ${TOKENS_PER_SECOND} tokens/s, Publish → Subscribe`;
      const idleLabel = `tokenrelay on the redis store, beside ${formatNumber(IDLE_STREAMS)} open idle streams`;
      const targets: Array<{ name: string; server: ServerChild; repetitions: Repetition[]; idle?: number }> = [
        { name: 'tokenrelay', server: relay, repetitions: [] as Repetition[] },
        ...(streams === 100
          ? [
              { name: 'tokenrelay on the redis store', server: onRedis, repetitions: [] as Repetition[] },
              { name: idleLabel, server: onRedis, repetitions: [] as Repetition[], idle: IDLE_STREAMS },
            ]
          : []),
        ...(grpc ? [{ name: 'baseline: bare grpc-js forwarder', server: grpc, repetitions: [] as Repetition[] }] : []),
        ...(http2 ? [{ name: 'baseline: bare node:http2 forwarder (no grpc-js)', server: http2, repetitions: [] as Repetition[] }] : []),
      ];
      for (let rep = 0; rep < reps; rep++) {
        for (const target of targets) {
          const prefix = `d${streams}-${target.idle ? 'beside-idle-' : ''}${rep}`;
          if (target.idle)
            await idleProducer.call('latency.open', { address: target.server.address, streams: target.idle, prefix: `${prefix}-idle` });
          const measured = await pacedOnce(context, target.server, producer, consumer, streams, prefix);
          if (target.idle) {
            await idleProducer.call('latency.stop', { fromNs: 0, toNs: 0 });
            await sleep(2000); // their ends are written before the next target is measured
          }
          target.repetitions.push(measured);
          context.log(
            `${target.name}, ${streams} streams, rep ${rep + 1}/${reps}: p50 ${formatNumber(measured.p50Ms)} ms, ` +
              `p99 ${formatNumber(measured.p99Ms)} ms, server CPU ${measured.serverCpu.toFixed(1)}%, ` +
              `${formatNumber(measured.writtenPerSecond)} tokens/s written, ${measured.undelivered} of them not delivered ` +
              `${DELIVERY_WAIT_MS / 1000} s after the window`,
          );
        }
      }
      const rowsOf = targets.map((target) => {
        const column = (key: keyof Repetition) => target.repetitions.map((repetition) => repetition[key]);
        const relayOnly = target.name === 'tokenrelay';
        const who = relayOnly ? '' : `${target.name}, `;
        const rows = {
          p50: context.row(`${who}latency p50, producer write → consumer, ${label}`, 'ms', column('p50Ms')),
          p99: context.row(`${who}latency p99, producer write → consumer, ${label}`, 'ms', column('p99Ms')),
          cpu: context.row(`${who}server CPU, ${label}`, '% of a core', column('serverCpu')),
        };
        if (relayOnly || column('undelivered').some((count) => count > 0)) {
          context.row(`${who}tokens written by the producer in the window, ${streams} streams`, 'tokens/s', column('writtenPerSecond'));
          context.row(
            `${who}of those, not delivered ${DELIVERY_WAIT_MS / 1000} s after the window (infinitely late), ${streams} streams`,
            'tokens',
            column('undelivered'),
          );
          context.row(`${who}busiest load client's CPU (producer or consumer), ${streams} streams`, '% of a core', column('clientCpu'));
        }
        return rows;
      });
      const redisIndex = targets.findIndex((target) => target.server === onRedis && !target.idle);
      const idleIndex = targets.findIndex((target) => target.idle);
      if (idleIndex >= 0) {
        context.ratio(rowsOf[idleIndex].p99, rowsOf[redisIndex].p99, 'the redis store without idle streams');
        context.ratio(rowsOf[idleIndex].cpu, rowsOf[redisIndex].cpu, 'the redis store without idle streams');
      }
      if (redisIndex >= 0) {
        const [memoryRows, redisRows] = [rowsOf[0], rowsOf[redisIndex]];
        const added = redisRows.p99.summary.median - memoryRows.p99.summary.median;
        context.check(
          `${streams} streams: the redis store adds ≤ 2 ms to p99 (same run)`,
          added <= 2,
          `+${formatNumber(added)} ms (${formatNumber(redisRows.p99.summary.median)} vs ${formatNumber(memoryRows.p99.summary.median)} ms)`,
        );
      }
      const [mine, baseline, withoutGrpcJs] = rowsOf.filter((_, index) => index !== redisIndex && index !== idleIndex);
      if (baseline) {
        context.ratio(mine.p50, baseline.p50, 'grpc-js forwarder');
        context.ratio(mine.p99, baseline.p99, 'grpc-js forwarder');
        context.ratio(mine.cpu, baseline.cpu, 'grpc-js forwarder');
      }
      if (withoutGrpcJs) context.ratio(mine.cpu, withoutGrpcJs.cpu, 'node:http2 forwarder');
      if (streams !== 1000) continue;
      context.check(
        'relay-added latency p50 < 1 ms (measured end to end)',
        mine.p50.summary.median < 1,
        `${formatNumber(mine.p50.summary.median)} ms`,
      );
      context.check(
        'relay-added latency p99 < 5 ms (measured end to end)',
        mine.p99.summary.median < 5,
        `${formatNumber(mine.p99.summary.median)} ms`,
      );
      context.check('server CPU < 50% of one core', mine.cpu.summary.median < 50, `${mine.cpu.summary.median.toFixed(1)}%`);
    }
  },
};
