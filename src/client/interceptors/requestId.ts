import { randomUUID } from 'node:crypto';
import { type Interceptor, InterceptingCall } from '@grpc/grpc-js';
import { REQUEST_ID_KEY } from '../../common/headers';

/** Gives every call an `x-request-id` (a fresh UUID) unless the caller set one, so server logs can be joined to the caller's. */
export const requestIdInterceptor: Interceptor = (options, nextCall) =>
  new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      if (metadata.get(REQUEST_ID_KEY).length === 0) metadata.set(REQUEST_ID_KEY, randomUUID());
      next(metadata, listener);
    },
  });
