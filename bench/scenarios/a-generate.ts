import { formatNumber } from '../lib/report';
import type { Scenario } from './types';
import { generateRate, sseRate } from './throughput';

/**
 * (a) One unpaced stream through Generate on the embedded sim model, against
 * a plain grpc-js server (one message per token) and a plain HTTP/1.1 SSE
 * server, all fed by the same token source. Repetitions interleave the three
 * servers so noise from the shared machine lands on all of them alike.
 */
export const generateOneStream: Scenario = {
  id: 'a',
  title: 'one stream, unpaced, Generate: tokens/s vs both baselines',
  async run(context) {
    const reps = context.reps(5, 2);
    const tokens = context.size(1_000_000, 100_000);
    // The grpc-js baseline is an order of magnitude slower: fewer tokens keep its repetitions short.
    const baselineGrpcTokens = context.size(250_000, 15_000);
    const sseTokens = context.size(1_000_000, 60_000);
    const worker = context.worker('client');
    const [relay, grpc, sse] = await Promise.all([
      context.relay(),
      context.options.baselines ? context.baseline('grpc') : undefined,
      context.options.baselines ? context.baseline('sse') : undefined,
    ]);
    const onRedis = await context.redisRelay();
    const traced = await context.tracedRelay();

    // Warm-up, unmeasured: JIT on both sides, connections.
    const warm = context.size(1, 0.5);
    await generateRate(worker, relay, 1, tokens * warm, 1);
    await generateRate(worker, onRedis, 1, tokens * warm, 1);
    await generateRate(worker, traced, 1, tokens * warm, 1);
    if (grpc) await generateRate(worker, grpc, 1, baselineGrpcTokens * warm, 1);
    if (sse) await sseRate(worker, sse, sseTokens * warm, 1);

    const relayRates: number[] = [];
    const perMessage: number[] = [];
    const serverCpu: number[] = [];
    const clientCpu: number[] = [];
    const grpcRates: number[] = [];
    const sseRates: number[] = [];
    const redisRates: number[] = [];
    const redisServerCpu: number[] = [];
    const tracedRates: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const onRedisMeasured = await generateRate(worker, onRedis, 1, tokens, rep);
      redisRates.push(onRedisMeasured.rate);
      redisServerCpu.push(onRedisMeasured.serverCpu);
      tracedRates.push((await generateRate(worker, traced, 1, tokens, rep)).rate);
      const measured = await generateRate(worker, relay, 1, tokens, rep);
      relayRates.push(measured.rate);
      perMessage.push(measured.tokensPerMessage);
      serverCpu.push(measured.serverCpu);
      clientCpu.push(measured.clientCpu);
      if (grpc) grpcRates.push((await generateRate(worker, grpc, 1, baselineGrpcTokens, rep)).rate);
      if (sse) sseRates.push(await sseRate(worker, sse, sseTokens, rep));
      context.log(
        `rep ${rep + 1}/${reps}: relay ${formatNumber(relayRates[rep])} tokens/s, on the redis store ${formatNumber(redisRates[rep])}`,
      );
    }
    const row = context.row(`tokenrelay Generate, 1 stream × ${formatNumber(tokens)} tokens`, 'tokens/s', relayRates, {
      tokensPerMessage: perMessage,
    });
    const relayMedian = row.summary.median;
    context.check('≥ 1,000,000 tokens/s on one stream', relayMedian >= 1e6, `${formatNumber(relayMedian)} tokens/s`);
    if (grpc && sse) {
      const grpcRow = context.row(
        `baseline: plain grpc-js, 1 message per token, ${formatNumber(baselineGrpcTokens)} tokens`,
        'tokens/s',
        grpcRates,
      );
      const sseRow = context.row(`baseline: HTTP/1.1 SSE, 1 event per token, ${formatNumber(sseTokens)} tokens`, 'tokens/s', sseRates);
      const vsSse = context.ratio(row, sseRow, 'SSE');
      const vsGrpc = context.ratio(row, grpcRow, 'grpc-js');
      context.check('≥ 1.5× the HTTP/1.1 SSE baseline (same run)', vsSse.median >= 1.5, `${vsSse.median.toPrecision(3)}×`);
      context.check('≥ 10× the one-message-per-token grpc-js baseline (same run)', vsGrpc.median >= 10, `${vsGrpc.median.toPrecision(3)}×`);
    }
    const tracedRow = context.row(
      `tokenrelay with tracing on (OTLP to a local collector), 1 stream × ${formatNumber(tokens)} tokens`,
      'tokens/s',
      tracedRates,
    );
    context.ratio(tracedRow, row, 'tracing off');
    const redisRow = context.row(`tokenrelay on the redis store, 1 stream × ${formatNumber(tokens)} tokens`, 'tokens/s', redisRates);
    const vsMemory = context.ratio(redisRow, row, 'memory store');
    context.check('redis store ≥ 0.5× the memory store (same run)', vsMemory.median >= 0.5, `${vsMemory.median.toPrecision(3)}×`);
    context.row('tokenrelay server CPU on the redis store (redis-server not counted)', '% of a core', redisServerCpu);
    context.row('tokens per TokenChunk the client got from tokenrelay (coalescing)', 'tokens', perMessage);
    context.row('tokenrelay server CPU during the stream', '% of a core', serverCpu);
    context.row('load client CPU during the stream (decoding TokenChunks)', '% of a core', clientCpu);
  },
};
