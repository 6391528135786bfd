import type { TtftResult } from '../load/ttft';
import type { Scenario } from './types';

/**
 * (f) Warm time to first token of a new stream: one Generate (max_tokens 1,
 * unpaced sim) at a time on a warm connection, call start → first token at
 * the client; against the same sim model called in the load process (what
 * the relay adds is the difference), and for reference the plain grpc-js and
 * SSE baselines serving the same request.
 */
export const timeToFirstToken: Scenario = {
  id: 'f',
  title: 'warm time to first token of a new stream vs the same model in-process (p50)',
  async run(context) {
    const reps = context.reps(5, 2);
    const calls = context.size(2000, 100);
    const worker = context.worker('client');
    const [relay, grpc, sse] = await Promise.all([
      context.relay(),
      context.options.baselines ? context.baseline('grpc') : undefined,
      context.options.baselines ? context.baseline('sse') : undefined,
    ]);
    const relayP50: number[] = [];
    const relayP99: number[] = [];
    const inProcessP50: number[] = [];
    const addedP50: number[] = [];
    const grpcP50: number[] = [];
    const sseP50: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const viaRelay = await worker.call<TtftResult>('ttft.grpc', { address: relay.address, model: 'fast', calls });
      const inProcess = await worker.call<TtftResult>('ttft.inProcess', { calls });
      relayP50.push(viaRelay.p50Us);
      relayP99.push(viaRelay.p99Us);
      inProcessP50.push(inProcess.p50Us);
      addedP50.push(viaRelay.p50Us - inProcess.p50Us);
      if (grpc) grpcP50.push((await worker.call<TtftResult>('ttft.grpc', { address: grpc.address, model: 'fast', calls })).p50Us);
      if (sse) sseP50.push((await worker.call<TtftResult>('ttft.sse', { port: sse.port, calls })).p50Us);
      context.log(`rep ${rep + 1}/${reps}: relay p50 ${viaRelay.p50Us.toFixed(0)} µs, in-process p50 ${inProcess.p50Us.toFixed(1)} µs`);
    }
    const row = context.row(`tokenrelay Generate, time to first token p50 (${calls} calls a repetition)`, 'µs', relayP50);
    context.row('tokenrelay Generate, time to first token p99', 'µs', relayP99);
    context.row('same sim model in-process, time to first token p50', 'µs', inProcessP50);
    const added = context.row('added by the relay: tokenrelay p50 − in-process p50', 'µs', addedP50);
    if (grpc && sse) {
      const grpcRow = context.row('baseline: plain grpc-js Generate, time to first token p50', 'µs', grpcP50);
      context.row('baseline: HTTP/1.1 SSE (keep-alive), time to first token p50', 'µs', sseP50);
      context.ratio(row, grpcRow, 'grpc-js');
    }
    context.check('warm time to first token added by the relay: p50 < 300 µs', added.summary.median < 300, `${added.summary.median.toFixed(0)} µs`);
  },
};
