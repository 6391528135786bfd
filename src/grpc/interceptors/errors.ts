import { type ServerInterceptor, ServerInterceptingCall, status as Status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { UndecodableRequest } from '../definition';
import { StatusCode, StreamFailure, internalErrorMessage } from '../../core/streams/status';
import { STATUS_DETAILS_KEY, failureStatus } from '../status';
import { callContextOf } from './context';

/**
 * The gRPC side's guard: no call, however malformed, can take the process
 * down or hang.
 *
 * - Everything below it runs inside its listener callbacks (the later
 *   interceptors, and the handler, which grpc-js starts from them), so an
 *   exception thrown there ends that call alone with INTERNAL, and is logged
 *   with its stack and request id. Without this, an exception thrown while a
 *   message is delivered escapes into grpc-js's own event handlers: an
 *   uncaught exception, or a call left without a status.
 * - A handler that throws is answered by grpc-js with UNKNOWN "Unknown
 *   error"; that is our bug, not the caller's, so it goes out as INTERNAL
 *   with a message that carries the request id to quote.
 * - A request message that did not decode is INVALID_ARGUMENT naming the
 *   message type (see UndecodableRequest), not grpc-js's INTERNAL.
 *
 * It sits below the request id and the call log, which read only validated
 * values, so its statuses are logged and counted like any other. Once it has
 * ended a call itself, what the handler still sends is dropped: grpc-js
 * would write it after the end of the HTTP/2 stream, which fails the write
 * and leaves the call without its trailers until the client gives up. The
 * handler learns of the end from the call's 'cancelled' event, as for any
 * call that ended under it.
 */
export function errorsInterceptor(logger: Logger): ServerInterceptor {
  return (method, call) => {
    let requestId = '';
    /** A status went out: nothing more comes in. */
    let ended = false;
    /** This guard sent that status itself: nothing more goes out either. */
    let endedHere = false;
    const end = (failure: StreamFailure) => {
      if (ended) return;
      ended = true;
      endedHere = true;
      call.sendStatus(failureStatus(failure));
    };
    function guarded<Args extends unknown[]>(callback: (...args: Args) => void): (...args: Args) => void {
      return (...args) => {
        if (ended) return;
        try {
          callback(...args);
        } catch (error) {
          logger.error({ err: error, requestId, method: method.path }, 'call failed inside the server');
          end(new StreamFailure(StatusCode.INTERNAL, internalErrorMessage(requestId)));
        }
      };
    }
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata: guarded((metadata, nextMetadata) => {
            requestId = callContextOf(metadata).requestId;
            nextMetadata(metadata);
          }),
          onReceiveMessage: guarded((message, nextMessage) => {
            if (message instanceof UndecodableRequest) end(message.failure());
            else nextMessage(message);
          }),
          onReceiveHalfClose: guarded((nextHalfClose) => nextHalfClose()),
        });
      },
      sendMessage(message, next) {
        if (!endedHere) next(message);
      },
      sendStatus(status, next) {
        if (endedHere) return;
        ended = true;
        if (status.code === Status.OK) return next(status);
        if (status.code !== Status.UNKNOWN) return next(withDetails(status));
        logger.error({ requestId, method: method.path, details: status.details }, 'handler failed');
        next(failureStatus(new StreamFailure(StatusCode.INTERNAL, internalErrorMessage(requestId)), status.metadata ?? undefined));
      },
    });
  };
}

/**
 * Every status that is not OK goes out with a google.rpc.Status in its
 * trailers: one the handler or an interceptor built from its failure, or
 * else one with the code's reason (a status grpc-js itself decided).
 */
function withDetails(status: SentStatus): SentStatus {
  if (status.metadata?.get(STATUS_DETAILS_KEY).length) return status;
  const failure = new StreamFailure(status.code as number as StatusCode, status.details ?? '');
  return failureStatus(failure, status.metadata ?? undefined);
}

/** What an interceptor's sendStatus receives. */
type SentStatus = Parameters<ServerInterceptingCall['sendStatus']>[0];
