import type { ScenarioContext } from '../lib/context';
import { formatNumber } from '../lib/report';
import type { LoadWorker } from '../lib/workers';
import type { Scenario } from './types';
import { generateRate } from './throughput';

/**
 * (c) 100 and 1,000 concurrent unpaced Generate streams on one connection:
 * aggregate tokens/s from the first call to the last stream's end, against
 * the plain grpc-js baseline on one connection too (the SSE baseline would
 * need a connection per stream, so it has no place here).
 */
export const concurrentStreams: Scenario = {
  id: 'c',
  title: '100 and 1,000 concurrent unpaced streams on one connection: aggregate tokens/s',
  async run(context) {
    const reps = context.reps(5, 1);
    const worker = context.worker('client');
    const [relay, grpc] = await Promise.all([context.relay(), context.options.baselines ? context.baseline('grpc') : undefined]);
    const onRedis = await context.redisRelay();
    const shapes = [
      { streams: 100, tokens: context.size(10_000, 1_000), baselineTokens: context.size(2_500, 100) },
      { streams: 1000, tokens: context.size(1_000, 100), baselineTokens: context.size(250, 10) },
    ];
    for (const shape of shapes) {
      // Warm-up, unmeasured.
      const warm = context.size(1, 0.5);
      await generateRate(worker, relay, shape.streams, shape.tokens * warm, 1);
      await generateRate(worker, onRedis, shape.streams, shape.tokens * warm, 1);
      if (grpc) await generateRate(worker, grpc, shape.streams, shape.baselineTokens * warm, 1);
      const rates: number[] = [];
      const perMessage: number[] = [];
      const serverCpu: number[] = [];
      const clientCpu: number[] = [];
      const baselineRates: number[] = [];
      const redisRates: number[] = [];
      for (let rep = 0; rep < reps; rep++) {
        redisRates.push((await generateRate(worker, onRedis, shape.streams, shape.tokens, rep * shape.streams)).rate);
        const measured = await generateRate(worker, relay, shape.streams, shape.tokens, rep * shape.streams);
        rates.push(measured.rate);
        perMessage.push(measured.tokensPerMessage);
        serverCpu.push(measured.serverCpu);
        clientCpu.push(measured.clientCpu);
        if (grpc) baselineRates.push((await generateRate(worker, grpc, shape.streams, shape.baselineTokens, rep)).rate);
        context.log(
          `${shape.streams} streams, rep ${rep + 1}/${reps}: relay ${formatNumber(measured.rate)} tokens/s, on the redis store ${formatNumber(redisRates[rep])}`,
        );
      }
      const row = context.row(
        `tokenrelay Generate, ${shape.streams} streams × ${formatNumber(shape.tokens)} tokens, one connection`,
        'tokens/s',
        rates,
        { tokensPerMessage: perMessage },
      );
      if (grpc) {
        const baseline = context.row(
          `baseline: plain grpc-js, ${shape.streams} streams × ${formatNumber(shape.baselineTokens)} tokens, one connection`,
          'tokens/s',
          baselineRates,
        );
        context.ratio(row, baseline, 'grpc-js');
      }
      const redisRow = context.row(
        `tokenrelay on the redis store, ${shape.streams} streams × ${formatNumber(shape.tokens)} tokens, one connection`,
        'tokens/s',
        redisRates,
      );
      const vsMemory = context.ratio(redisRow, row, 'memory store');
      context.check(
        `${formatNumber(shape.streams)} streams: redis store ≥ 0.5× the memory store (same run)`,
        vsMemory.median >= 0.5,
        `${vsMemory.median.toPrecision(3)}×`,
      );
      context.row(`tokens per TokenChunk the client got, ${shape.streams} streams (coalescing)`, 'tokens', perMessage);
      context.row(`tokenrelay server CPU, ${shape.streams} streams`, '% of a core', serverCpu);
      context.row(`load client CPU, ${shape.streams} streams`, '% of a core', clientCpu);
      if (shape.streams === 1000) {
        context.check(
          '1,000 streams: ≥ 1,000,000 tokens/s aggregate',
          row.summary.median >= 1e6,
          `${formatNumber(row.summary.median)} tokens/s`,
        );
      }
    }

    await workersOnManyConnections(context, worker, reps);
  },
};

/**
 * --workers 2 against --workers 1, both on the redis store, with the streams
 * spread over many connections (Node's cluster module hands each connection
 * to one worker, so one connection would only ever use one).
 */
async function workersOnManyConnections(context: ScenarioContext, worker: LoadWorker, reps: number): Promise<void> {
  const streams = 1000;
  const connections = 20;
  const tokens = context.size(1_000, 100);
  const [one, two] = [await context.redisRelay(1), await context.redisRelay(2)];
  const warm = context.size(1, 0.5);
  await generateRate(worker, one, streams, tokens * warm, 1, connections);
  await generateRate(worker, two, streams, tokens * warm, 1, connections);
  const rates = { one: [] as number[], two: [] as number[] };
  for (let rep = 0; rep < reps; rep++) {
    rates.one.push((await generateRate(worker, one, streams, tokens, rep * streams, connections)).rate);
    rates.two.push((await generateRate(worker, two, streams, tokens, rep * streams, connections)).rate);
    context.log(`--workers 1 vs 2, rep ${rep + 1}/${reps}: ${formatNumber(rates.one[rep])} vs ${formatNumber(rates.two[rep])} tokens/s`);
  }
  const label = `${streams} streams × ${formatNumber(tokens)} tokens over ${connections} connections, redis store`;
  const oneRow = context.row(`tokenrelay --workers 1, ${label}`, 'tokens/s', rates.one);
  const twoRow = context.row(`tokenrelay --workers 2, ${label}`, 'tokens/s', rates.two);
  context.ratio(twoRow, oneRow, '--workers 1');
}
