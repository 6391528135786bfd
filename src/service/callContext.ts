import type { Metadata } from '@grpc/grpc-js';
import { DEADLINE_KEY } from '../interceptors/server/deadline';
import { settledRequestId } from '../interceptors/server/requestId';

/** The call's effective deadline (ms since the epoch), as the deadline interceptor settled it; Infinity if none. */
export function callDeadlineMs(metadata: Metadata): number {
  const value = Number(metadata.get(DEADLINE_KEY)[0]);
  return Number.isFinite(value) ? value : Infinity;
}

/** The call's request id, as the request-id interceptor settled it. */
export function callRequestId(metadata: Metadata): string {
  return settledRequestId(metadata);
}
