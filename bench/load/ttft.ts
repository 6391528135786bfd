/** Scenario (f): warm time to first token of a new stream, one call at a time. */
import type { ServiceError } from '@grpc/grpc-js';
import { SimModel } from '../../src/models/sim';
import type { GenerationRequest } from '../../src/models/types';
import { nowNs, percentiles } from '../lib/stats';
import { generateRequest } from './channel';
import { clientFor } from './clients';
import { readSse } from './sse';

export interface TtftParams {
  /** Calls measured; the same number again first, unmeasured, to warm up. */
  calls: number;
}

export interface TtftResult {
  calls: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
}

async function measure(calls: number, once: () => Promise<number>): Promise<TtftResult> {
  for (let index = 0; index < calls; index++) await once();
  const samples: number[] = [];
  for (let index = 0; index < calls; index++) samples.push(await once());
  const [p50Us, p90Us, p99Us] = percentiles(samples, [0.5, 0.9, 0.99]);
  return { calls, p50Us, p90Us, p99Us };
}

/** Generate with max_tokens 1 over gRPC (tokenrelay or the grpc-js baseline): call start to first token, in µs. */
function grpcOnce(address: string, model: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = nowNs();
    let firstUs = NaN;
    const call = clientFor(address, 'ttft').generate(generateRequest(model, 1, 7));
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
  await model.generate(request, new AbortController().signal, {
    append: () => {
      if (Number.isNaN(firstUs)) firstUs = (nowNs() - started) / 1000;
      return undefined;
    },
  });
  return firstUs;
}

export const ttftCommands = {
  'ttft.grpc': (params: TtftParams & { address: string; model: string }) =>
    measure(params.calls, () => grpcOnce(params.address, params.model)),
  'ttft.sse': (params: TtftParams & { port: number }) => measure(params.calls, () => sseOnce(params.port)),
  'ttft.inProcess': (params: TtftParams) => {
    const model = new SimModel({ name: 'fast', ttftMs: 0, interTokenMs: 0 });
    const request: GenerationRequest = { prompt: 'bench', messages: [], maxTokens: 1, temperature: 1, topP: 1, stop: [], seed: 7 };
    return measure(params.calls, () => inProcessOnce(model, request));
  },
};
