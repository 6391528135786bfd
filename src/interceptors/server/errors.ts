import { type ServerInterceptor, ServerInterceptingCall, status as Status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { settledRequestId } from './requestId';

/**
 * grpc-js answers a handler that throws with UNKNOWN "Unknown error". That is
 * our bug, not the caller's: it goes out as INTERNAL with a safe message that
 * carries the request id to quote, and is logged. (The handlers' own guard,
 * guardHandler in src/service, logs the stack.)
 */
export function errorsInterceptor(logger: Logger): ServerInterceptor {
  return (method, call) => {
    let requestId = '';
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            requestId = settledRequestId(metadata);
            nextMetadata(metadata);
          },
        });
      },
      sendStatus(status, next) {
        if (status.code !== Status.UNKNOWN) return next(status);
        logger.error({ requestId, method: method.path, details: status.details }, 'handler failed');
        next({ ...status, code: Status.INTERNAL, details: `internal error (request id ${requestId})` });
      },
    });
  };
}
