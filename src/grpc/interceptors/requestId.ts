import { Metadata, type ServerInterceptor, ServerInterceptingCall } from '@grpc/grpc-js';
import { REQUEST_ID_KEY } from '../../common/headers';
import { requestIdFrom } from '../../core/requestId';
import { startCallContext } from './context';

/**
 * The first interceptor: settles the request id and starts the call's
 * context (src/grpc/interceptors/context.ts) with it, so every later
 * interceptor and the handler read the same one; echoes it in the response
 * headers and trailers; ends the context (its signal aborts) when the call
 * ends, however it ends.
 */
export const requestIdInterceptor: ServerInterceptor = (_method, call) => {
  let requestId = '';
  let context: ReturnType<typeof startCallContext> | undefined;
  return new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(metadata, nextMetadata) {
          requestId = requestIdFrom((name) => metadata.get(name)[0]);
          context = startCallContext(metadata, requestId);
          nextMetadata(metadata);
        },
        onCancel() {
          context?.end();
        },
      });
    },
    sendMetadata(metadata, next) {
      if (requestId) metadata.set(REQUEST_ID_KEY, requestId);
      next(metadata);
    },
    sendStatus(status, next) {
      if (!requestId) return next(status);
      const metadata = status.metadata ?? new Metadata();
      metadata.set(REQUEST_ID_KEY, requestId);
      next({ ...status, metadata });
      context?.end();
    },
  });
};
