import type { Metadata } from '@grpc/grpc-js';
import { CallState } from '../../core/callContext';

/**
 * Each gRPC call's context, keyed by the call's incoming metadata: grpc-js
 * hands that one object through every interceptor to the handler
 * (`call.metadata`), so it identifies the call from the first interceptor to
 * the last line of the handler, without writing anything into it.
 */
const contexts = new WeakMap<Metadata, CallState>();

/** Starts a call's context (the first interceptor does, once it has the request id). */
export function startCallContext(metadata: Metadata, requestId: string): CallState {
  const state = new CallState(requestId);
  contexts.set(metadata, state);
  return state;
}

/** The context of the call whose metadata this is. A call that never passed the first interceptor gets a fresh one. */
export function callContextOf(metadata: Metadata): CallState {
  let state = contexts.get(metadata);
  if (!state) {
    state = new CallState();
    contexts.set(metadata, state);
  }
  return state;
}
