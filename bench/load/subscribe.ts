import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import type { TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { nowNs } from '../lib/stats';
import { clientFor } from './clients';

interface Subscription {
  call: ClientReadableStream<TokenChunk>;
  tokens: number;
  messages: number;
  lastNs: number;
  error?: string;
  done: Promise<void>;
}

const subscriptions = new Map<string, Subscription>();

export interface SubscribeParams {
  address: string;
  streamId: string;
  fromSeq: number;
  /** Read at most this many tokens per second (pausing the call between chunks); 0 reads as fast as it can. */
  tokensPerSecond: number;
}

/** Subscribes; resolves when the first token arrived (so the subscriber is surely attached). */
function start(params: SubscribeParams): Promise<void> {
  const call = clientFor(params.address, 'subscribe').subscribe({ streamId: params.streamId, fromSeq: params.fromSeq });
  let resolveFirst!: () => void;
  let rejectFirst!: (error: Error) => void;
  const first = new Promise<void>((resolve, reject) => {
    resolveFirst = resolve;
    rejectFirst = reject;
  });
  const state = { call, tokens: 0, messages: 0, lastNs: 0 } as Subscription;
  state.done = new Promise<void>((resolve) => {
    call.on('data', (chunk: TokenChunk) => {
      if (chunk.seq !== params.fromSeq + state.tokens && !state.error) {
        state.error = `seq ${chunk.seq} where ${params.fromSeq + state.tokens} was due`;
      }
      state.tokens += chunk.tokens.length;
      state.messages++;
      state.lastNs = nowNs();
      if (state.tokens > 0) resolveFirst();
      if (params.tokensPerSecond > 0 && chunk.tokens.length > 0) {
        call.pause();
        setTimeout(() => call.resume(), (chunk.tokens.length / params.tokensPerSecond) * 1000);
      }
    });
    call.on('error', (error: ServiceError) => {
      state.error ??= error.message;
      rejectFirst(error);
      resolve();
    });
    call.on('end', () => resolve());
  });
  subscriptions.set(params.streamId, state);
  return first;
}

function subscription(streamId: string): Subscription {
  const found = subscriptions.get(streamId);
  if (!found) throw new Error(`no subscription to ${streamId}`);
  return found;
}

export const subscribeCommands = {
  'subscribe.start': start,
  /** Waits for the stream's end: tokens (including the primer), messages, and when the last one arrived. */
  'subscribe.wait': async (params: { streamId: string }) => {
    const state = subscription(params.streamId);
    await state.done;
    subscriptions.delete(params.streamId);
    return { tokens: state.tokens, messages: state.messages, lastNs: state.lastNs, error: state.error };
  },
  'subscribe.progress': async (params: { streamId: string }) => ({ tokens: subscription(params.streamId).tokens }),
  'subscribe.cancel': async (params: { streamId: string }) => {
    subscription(params.streamId).call.cancel();
    subscriptions.delete(params.streamId);
  },
};
