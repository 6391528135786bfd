import type { ServiceError } from '@grpc/grpc-js';
import type { TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { nowNs } from '../lib/stats';
import { generateRequest } from './channel';
import { clientFor, closeAllClients, closeClients } from './clients';

export interface GenerateParams {
  address: string;
  model: string;
  /** Concurrent streams, on one connection unless `connections` says otherwise. */
  streams: number;
  /** Connections the streams are spread over, round robin. Default 1. */
  connections?: number;
  tokensPerStream: number;
  seed: number;
}

export interface GenerateResult {
  tokens: number;
  messages: number;
  /** From the first call started to the last stream ended. */
  seconds: number;
  /** Streams whose sequence numbers did not run 0, 1, 2, ... or that failed. */
  broken: number;
  errors: string[];
}

/** Follows one Generate stream to its end, checking sequence numbers; resolves with what it saw. */
function follow(params: GenerateParams, seed: number, index: number): Promise<{ tokens: number; messages: number; error?: string }> {
  return new Promise((resolve) => {
    const connection = (params.connections ?? 1) > 1 ? `connection-${index % (params.connections ?? 1)}` : 'default';
    const call = clientFor(params.address, connection).generate(generateRequest(params.model, params.tokensPerStream, seed));
    let tokens = 0;
    let messages = 0;
    let error: string | undefined;
    call.on('data', (chunk: TokenChunk) => {
      if (chunk.seq !== tokens && !error) error = `seq ${chunk.seq} where ${tokens} was due`;
      tokens += chunk.tokens.length;
      messages++;
    });
    call.on('error', (failure: ServiceError) => resolve({ tokens, messages, error: error ?? failure.message }));
    call.on('end', () => resolve({ tokens, messages, error }));
  });
}

/** Unpaced Generate streams, all at once on one connection: what the consumer side sees. */
async function run(params: GenerateParams): Promise<GenerateResult> {
  const started = nowNs();
  const results = await Promise.all(Array.from({ length: params.streams }, (_, index) => follow(params, params.seed + index, index)));
  const seconds = (nowNs() - started) / 1e9;
  const errors = results.flatMap((result) =>
    result.error ? [result.error] : result.tokens === params.tokensPerStream ? [] : [`${result.tokens} tokens`],
  );
  return {
    tokens: results.reduce((sum, result) => sum + result.tokens, 0),
    messages: results.reduce((sum, result) => sum + result.messages, 0),
    seconds,
    broken: errors.length,
    errors: errors.slice(0, 3),
  };
}

export const generateCommands = {
  'generate.run': run,
  'clients.close': async (params: { address: string }) => closeClients(params.address),
  'clients.closeAll': async () => closeAllClients(),
};
