/** Scenario (f): warm time to first token of a new stream, one call at a time. */
import type { ServiceError } from '@grpc/grpc-js';
import { SimModel } from '../../src/core/models/sim';
import type { GenerationRequest } from '../../src/core/models/types';
import { nowNs, percentiles } from '../lib/stats';
import { generateRequest } from './channel';
import { clientFor } from './clients';
import { readSse } from './sse';

/** What one repetition calls, in turn: the relay, and the baselines when they run. */
export interface TtftParams {
  /** Calls measured per target; the same number again first, unmeasured, to warm up. */
  calls: number;
  relay: string;
  /** The same relay with tracing on, when measured. */
  traced?: string;
  /** A relay on the redis store, when measured. */
  redis?: string;
  model: string;
  grpc?: string;
  ssePort?: number;
}

export interface TtftResult {
  calls: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
}

export type TtftTarget = 'relay' | 'traced' | 'redis' | 'grpc' | 'sse' | 'inProcess';

/** Calls a target makes in a row before the next target's turn. */
const BLOCK = 100;

/**
 * Times the targets in turns of BLOCK calls each (relay, in-process, grpc-js,
 * SSE, relay, ...), so a change in the machine's load or CPU power state hits
 * all of them alike instead of whichever ran in that stretch of time, while
 * each call still finds its own code warm, as a caller making calls in a row
 * does. (Strict call-by-call turns make every call cold: the in-process call
 * then takes 15 µs instead of 2.)
 */
export async function measure(
  calls: number,
  targets: Array<[TtftTarget, () => Promise<number>]>,
): Promise<Partial<Record<TtftTarget, TtftResult>>> {
  const samples = targets.map(() => [] as number[]);
  for (const measured of [false, true]) {
    for (let done = 0; done < calls; done += BLOCK) {
      for (let target = 0; target < targets.length; target++) {
        for (let index = done; index < Math.min(calls, done + BLOCK); index++) {
          const micros = await targets[target][1]();
          if (measured) samples[target].push(micros);
        }
      }
    }
  }
  const results: Partial<Record<TtftTarget, TtftResult>> = {};
  targets.forEach(([name], target) => {
    const [p50Us, p90Us, p99Us] = percentiles(samples[target], [0.5, 0.9, 0.99]);
    results[name] = { calls, p50Us, p90Us, p99Us };
  });
  return results;
}

/** What a TTFT call asks for, when not the default: `bench` as the prompt, one token. */
export interface TtftShape {
  prompt?: string;
  /** Two or more from a paced model: the first token goes out before the end is known, as in a long generation. */
  maxTokens?: number;
}

/** Generate over gRPC (tokenrelay or the grpc-js baseline), max_tokens 1 unless the shape says: call start to first token, in µs. */
export function grpcOnce(address: string, model: string, shape: TtftShape = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = nowNs();
    let firstUs = NaN;
    const call = clientFor(address, 'ttft').generate(generateRequest(model, shape.maxTokens ?? 1, 7, shape.prompt));
    call.on('data', () => {
      if (Number.isNaN(firstUs)) firstUs = (nowNs() - started) / 1000;
    });
    call.on('error', (error: ServiceError) => reject(error));
    call.on('end', () => (Number.isNaN(firstUs) ? reject(new Error('no token')) : resolve(firstUs)));
  });
}

function sseOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = nowNs();
    let firstUs = NaN;
    void readSse({ port, tokens: 1, seed: 7 }, () => (firstUs = (nowNs() - started) / 1000)).then((result) =>
      result.error || Number.isNaN(firstUs) ? reject(new Error(result.error ?? 'no token')) : resolve(firstUs),
    );
  });
}

/** The same sim model called in this process: generate() to the first token in its sink. */
async function inProcessOnce(model: SimModel, request: GenerationRequest): Promise<number> {
  const started = nowNs();
  let firstUs = NaN;
  const first = () => {
    if (Number.isNaN(firstUs)) firstUs = (nowNs() - started) / 1000;
    return undefined;
  };
  // The same sink shape as the relay's stream (runs of tokens), so both take the same path through the model.
  await model.generate(request, new AbortController().signal, { append: first, appendMany: first });
  return firstUs;
}

export const ttftCommands = {
  ttft: (params: TtftParams) => {
    const model = new SimModel({ name: 'fast', ttftMs: 0, interTokenMs: 0 });
    const request: GenerationRequest = { prompt: 'bench', messages: [], maxTokens: 1, temperature: 1, topP: 1, stop: [], seed: 7 };
    const targets: Array<[TtftTarget, () => Promise<number>]> = [
      ['relay', () => grpcOnce(params.relay, params.model)],
      ['inProcess', () => inProcessOnce(model, request)],
    ];
    if (params.traced) targets.push(['traced', () => grpcOnce(params.traced as string, params.model)]);
    if (params.redis) targets.push(['redis', () => grpcOnce(params.redis as string, params.model)]);
    if (params.grpc) targets.push(['grpc', () => grpcOnce(params.grpc as string, params.model)]);
    if (params.ssePort) targets.push(['sse', () => sseOnce(params.ssePort as number)]);
    return measure(params.calls, targets);
  },
};
