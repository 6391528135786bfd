import type { Interceptor } from '@grpc/grpc-js';
import type { BackoffOptions } from '../../common/backoff';
import { type DeadlineDefaults, deadlineInterceptor } from './deadline';
import { requestIdInterceptor } from './requestId';
import { retryInterceptor } from './retry';

/** Idempotent unary methods: retrying them can never do a thing twice. */
export const IDEMPOTENT_METHODS = ['ListModels', 'Cancel'];

/**
 * The client interceptor chain. grpc-js runs the first entry outermost: it
 * sees the caller's call first; the wire is below the last entry.
 */
export function clientInterceptors(deadlines: DeadlineDefaults, backoff: BackoffOptions): Interceptor[] {
  return [
    deadlineInterceptor(deadlines), // one deadline for the call and all its retries
    requestIdInterceptor, // the same x-request-id on every retry
    retryInterceptor(IDEMPOTENT_METHODS, backoff), // UNAVAILABLE unary calls again, with full jitter
  ];
}
