import type { ServerInterceptingCall } from '@grpc/grpc-js';
import { type StatusCode, StreamFailure } from '../../core/streams/status';
import { STATUS_DETAILS_KEY, failureStatus } from '../status';

/** What an interceptor's sendStatus receives. */
export type SentStatus = Parameters<ServerInterceptingCall['sendStatus']>[0];

/**
 * Every status that is not OK goes out with a google.rpc.Status in its
 * trailers: one the handler or the call interceptor built from its failure,
 * or else one with the code's reason (a status grpc-js itself decided).
 */
export function withDetails(status: SentStatus): SentStatus {
  if (status.metadata?.get(STATUS_DETAILS_KEY).length) return status;
  const failure = new StreamFailure(status.code as number as StatusCode, status.details ?? '');
  return failureStatus(failure, status.metadata ?? undefined);
}
