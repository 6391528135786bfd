/** Helpers shared by the throughput scenarios: one repetition against each kind of server. */
import type { GenerateResult } from '../load/generate';
import { CpuMeter } from '../lib/proc';
import type { ServerChild } from '../lib/servers';
import type { LoadWorker } from '../lib/workers';

/**
 * Tokens per second of K concurrent unpaced Generate streams on one
 * connection (tokenrelay or the grpc-js baseline), and the CPU the server and
 * the client used meanwhile (% of one core): which side is the bottleneck.
 */
export async function generateRate(
  worker: LoadWorker,
  server: ServerChild,
  streams: number,
  tokensPerStream: number,
  seed: number,
  connections = 1,
): Promise<{ rate: number; tokensPerMessage: number; serverCpu: number; clientCpu: number }> {
  const serverMeter = new CpuMeter(server.pid);
  const clientMeter = new CpuMeter(worker.pid);
  const result = await worker.call<GenerateResult>('generate.run', {
    address: server.address,
    model: 'fast',
    streams,
    tokensPerStream,
    seed,
    connections,
  });
  if (result.broken > 0) {
    throw new Error(`${server.kind}: ${result.broken} of ${streams} streams broken: ${result.errors.join('; ')}`);
  }
  return {
    rate: result.tokens / result.seconds,
    tokensPerMessage: result.tokens / result.messages,
    serverCpu: serverMeter.shareOfOneCore() * 100,
    clientCpu: clientMeter.shareOfOneCore() * 100,
  };
}

/** Tokens per second of one unpaced SSE stream from the HTTP/1.1 baseline. */
export async function sseRate(worker: LoadWorker, server: ServerChild, tokens: number, seed: number): Promise<number> {
  const result = await worker.call<{ tokens: number; seconds: number; broken: number; errors: string[] }>('sse.run', {
    port: server.port,
    tokens,
    seed,
  });
  if (result.broken > 0) throw new Error(`sse: broken stream: ${result.errors.join('; ')}`);
  return result.tokens / result.seconds;
}
