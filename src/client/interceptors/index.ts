import { type Interceptor, InterceptingCall } from '@grpc/grpc-js';
import { DataServiceDefinition } from '../../gen/tokenrelay/v1/data_service';
import type { BackoffOptions } from '../../common/backoff';
import { type DeadlineDefaults, deadlineInterceptor } from './deadline';
import { requestIdInterceptor } from './requestId';
import { retryInterceptor } from './retry';

/**
 * The unary methods the proto marks idempotent (`option idempotency_level`):
 * retrying them can never do a thing twice. Read from the generated
 * definition, so marking a method in the proto is all it takes.
 */
export const IDEMPOTENT_METHODS: readonly string[] = Object.values(DataServiceDefinition.methods)
  .filter((method) => !method.requestStream && !method.responseStream && 'idempotencyLevel' in method.options)
  .map((method) => method.name);

/**
 * The client interceptor chain. grpc-js runs the first entry outermost: it
 * sees the caller's call first; the wire is below the last entry.
 */
export function clientInterceptors(deadlines: DeadlineDefaults, backoff: BackoffOptions, contact: Contact): Interceptor[] {
  return [
    deadlineInterceptor(deadlines), // one deadline for the call and all its retries
    requestIdInterceptor, // the same x-request-id on every retry
    retryInterceptor(IDEMPOTENT_METHODS, backoff, contact.reached), // UNAVAILABLE unary calls again, with full jitter
    contactInterceptor(contact.onReached), // notes that a server answered
  ];
}

/** Whether the client has reached a server yet, and how the interceptors tell it one did. */
export interface Contact {
  reached: () => boolean;
  onReached: () => void;
}

/** Calls onReached when a server sends a call's response headers: the client has reached a server. */
function contactInterceptor(onReached: () => void): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        next(metadata, {
          onReceiveMetadata(received, nextMetadata) {
            onReached();
            nextMetadata(received);
          },
        });
      },
    });
}
