import type { TtftResult, TtftTarget } from '../load/ttft';
import type { Scenario } from './types';

/**
 * (f) Warm time to first token of a new stream: one Generate (max_tokens 1,
 * unpaced sim) at a time on a warm connection, call start → first token at
 * the client; against the same sim model called in the load process (what
 * the relay adds is the difference), and for reference the plain grpc-js and
 * SSE baselines serving the same request, and the relay on the redis store
 * (its own redis-server), against the memory store. The targets take turns
 * in blocks of 100 calls (see load/ttft.ts), so the ratios compare like with
 * like.
 */
export const timeToFirstToken: Scenario = {
  id: 'f',
  title: 'warm time to first token of a new stream vs the same model in-process (p50)',
  async run(context) {
    const reps = context.reps(5, 2);
    const calls = context.size(2000, 100);
    const worker = context.worker('client');
    const [relay, traced, onRedis, grpc, sse] = await Promise.all([
      context.relay(),
      context.tracedRelay(),
      context.redisRelay(),
      context.options.baselines ? context.baseline('grpc') : undefined,
      context.options.baselines ? context.baseline('sse') : undefined,
    ]);
    const relayP50: number[] = [];
    const relayP99: number[] = [];
    const inProcessP50: number[] = [];
    const addedP50: number[] = [];
    const grpcP50: number[] = [];
    const sseP50: number[] = [];
    const relayCpu: number[] = [];
    const tracedP50: number[] = [];
    const tracedCpu: number[] = [];
    const grpcCpu: number[] = [];
    const redisP50: number[] = [];
    const redisCpu: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const cpuBefore = [relay.cpuSeconds(), grpc?.cpuSeconds() ?? 0, traced.cpuSeconds(), onRedis.cpuSeconds()];
      const result = await worker.call<Partial<Record<TtftTarget, TtftResult>>>('ttft', {
        calls,
        relay: relay.address,
        traced: traced.address,
        redis: onRedis.address,
        model: 'fast',
        grpc: grpc?.address,
        ssePort: sse?.port,
      });
      // Server CPU per call: the warm-up calls count too, hence 2 × calls.
      relayCpu.push(((relay.cpuSeconds() - cpuBefore[0]) / (2 * calls)) * 1e6);
      if (grpc) grpcCpu.push(((grpc.cpuSeconds() - cpuBefore[1]) / (2 * calls)) * 1e6);
      tracedCpu.push(((traced.cpuSeconds() - cpuBefore[2]) / (2 * calls)) * 1e6);
      redisCpu.push(((onRedis.cpuSeconds() - cpuBefore[3]) / (2 * calls)) * 1e6);
      redisP50.push((result.redis as TtftResult).p50Us);
      tracedP50.push((result.traced as TtftResult).p50Us);
      const viaRelay = result.relay as TtftResult;
      const inProcess = result.inProcess as TtftResult;
      relayP50.push(viaRelay.p50Us);
      relayP99.push(viaRelay.p99Us);
      inProcessP50.push(inProcess.p50Us);
      addedP50.push(viaRelay.p50Us - inProcess.p50Us);
      if (result.grpc) grpcP50.push(result.grpc.p50Us);
      if (result.sse) sseP50.push(result.sse.p50Us);
      context.log(`rep ${rep + 1}/${reps}: relay p50 ${viaRelay.p50Us.toFixed(0)} µs, in-process p50 ${inProcess.p50Us.toFixed(1)} µs`);
    }
    const row = context.row(`tokenrelay Generate, time to first token p50 (${calls} calls a repetition)`, 'µs', relayP50);
    context.row('tokenrelay Generate, time to first token p99', 'µs', relayP99);
    context.row('same sim model in-process, time to first token p50', 'µs', inProcessP50);
    const added = context.row('added by the relay: tokenrelay p50 − in-process p50', 'µs', addedP50);
    const tracedRow = context.row('tokenrelay with tracing on (OTLP to a local collector), time to first token p50', 'µs', tracedP50);
    context.ratio(tracedRow, row, 'tracing off');
    const tracedCpuRow = context.row('tokenrelay with tracing on, server CPU per call', 'µs', tracedCpu);
    const offCpuRow = context.row('tokenrelay with tracing off, server CPU per call', 'µs', relayCpu);
    context.ratio(tracedCpuRow, offCpuRow, 'tracing off');
    const redisRow = context.row('tokenrelay on the redis store, time to first token p50', 'µs', redisP50);
    context.ratio(redisRow, row, 'memory store');
    const redisCpuRow = context.row('tokenrelay on the redis store, server CPU per call (redis-server not counted)', 'µs', redisCpu);
    context.ratio(redisCpuRow, offCpuRow, 'memory store');
    const exported = await context.exported();
    context.log(`traces exported: ${exported.requests} OTLP requests, ${(exported.bytes / 1e6).toFixed(1)} MB`);
    if (grpc && sse) {
      const grpcRow = context.row('baseline: plain grpc-js Generate, time to first token p50', 'µs', grpcP50);
      context.row('baseline: HTTP/1.1 SSE (keep-alive), time to first token p50', 'µs', sseP50);
      const vsGrpc = context.ratio(row, grpcRow, 'grpc-js');
      const cpuRow = context.row('tokenrelay server CPU per call (max_tokens 1, whole call)', 'µs', relayCpu);
      const cpuVsGrpc = context.ratio(cpuRow, context.row('baseline: plain grpc-js server CPU per call', 'µs', grpcCpu), 'grpc-js');
      context.check(
        'time to first token p50 ≤ 1.2× the plain grpc-js server (same run)',
        vsGrpc.median <= 1.2,
        `${vsGrpc.median.toPrecision(3)}×`,
      );
      context.check(
        'server CPU per call ≤ 1.4× the plain grpc-js server (same run)',
        cpuVsGrpc.median <= 1.4,
        `${cpuVsGrpc.median.toPrecision(3)}×`,
      );
    }
    context.check(
      'warm time to first token added by the relay: p50 < 300 µs',
      added.summary.median < 300,
      `${added.summary.median.toFixed(0)} µs`,
    );
  },
};
