/** Scenario (e): many slow Generate streams held open on one connection. */
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import type { TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { nowNs, sleep } from '../lib/stats';
import { generateRequest } from './channel';
import { clientFor } from './clients';

const held = { calls: [] as ClientReadableStream<TokenChunk>[], tokens: [] as number[], errors: [] as string[] };

async function until(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

const withTokens = (minimum: number) => held.tokens.filter((count) => count >= minimum).length;

/** Opens the streams; resolves when each delivered its first token (or the timeout passed). */
async function open(params: {
  address: string;
  purpose: string;
  model: string;
  streams: number;
  maxTokens: number;
  timeoutMs: number;
}): Promise<{ seconds: number; flowing: number; errors: string[] }> {
  const client = clientFor(params.address, params.purpose);
  const started = nowNs();
  for (let index = 0; index < params.streams; index++) {
    const slot = held.tokens.length;
    held.tokens.push(0);
    const call = client.generate(generateRequest(params.model, params.maxTokens, index));
    call.on('data', (chunk: TokenChunk) => (held.tokens[slot] += chunk.tokens.length));
    call.on('error', (error: ServiceError) => {
      if (error.code !== 1) held.errors.push(error.message); // 1: CANCELLED, by idle.close
    });
    held.calls.push(call);
  }
  await until(() => withTokens(1) === held.tokens.length || held.errors.length > 0, params.timeoutMs);
  return { seconds: (nowNs() - started) / 1e9, flowing: withTokens(1), errors: held.errors.slice(0, 3) };
}

export const idleCommands = {
  'idle.open': open,
  /** Waits until every held stream delivered at least minTokens; returns how many did. */
  'idle.flowing': async (params: { minTokens: number; timeoutMs: number }) => {
    await until(() => withTokens(params.minTokens) === held.tokens.length, params.timeoutMs);
    return { streams: held.tokens.length, flowing: withTokens(params.minTokens), errors: held.errors.slice(0, 3) };
  },
  /** Cancels every held stream. */
  'idle.close': async () => {
    for (const call of held.calls) call.cancel();
    held.calls = [];
    held.tokens = [];
    held.errors = [];
  },
};
