import { Metadata, type ServerInterceptor, ServerInterceptingCall, status as Status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { REQUEST_ID_KEY } from '../../common/headers';
import type { CallState } from '../../core/callContext';
import type { Config } from '../../core/config';
import type { Principals } from '../../core/principals';
import { requestIdFrom } from '../../core/requestId';
import { StatusCode, StreamFailure, internalErrorMessage } from '../../core/streams/status';
import type { Tracing } from '../../core/tracing';
import type { Metrics } from '../../server/metrics';
import { UndecodableRequest } from '../definition';
import { failureStatus } from '../status';
import { AuthGate, UNAUTHENTICATED } from './auth';
import { CallLog } from './callLog';
import { startCallContext } from './context';
import { DEADLINE_EXCEEDED, callDeadline } from './deadline';
import { SERVER_DRAINING, refusedWhileDraining } from './draining';
import { type SentStatus, withDetails } from './errors';
import { CallSpan } from './tracing';

export interface CallInterceptorOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  isDraining: () => boolean;
  /** Who may call; none configured turns auth off. */
  principals: Principals;
  /** Traces; absent or off, no span is made. */
  tracing?: Tracing;
}

/**
 * Everything the server does around a call, in one interceptor: one layer
 * that each message passes, instead of one per concern (each layer costs
 * every message in and out a few calls; with seven, that was a sixth of the
 * server's CPU on paced one-token messages). In the order a call meets them:
 *
 * 1. the request id is settled and starts the call's context (see
 *    context.ts), which every handler reads; it is echoed in the response
 *    headers and trailers, and the context ends (its signal aborts) when the
 *    call ends, however it ends;
 * 2. the call log: one info line per call when it ends, and the per-call
 *    metrics (callLog.ts); a call the client cancelled is logged as CANCELLED;
 * 3. with tracing on, a SERVER span per call (tracing.ts);
 * 4. the guard: everything after this point runs inside it (the checks
 *    below, and the handler, which grpc-js starts from them), so an exception
 *    thrown there ends that call alone with INTERNAL, logged with its stack
 *    and request id, instead of escaping into grpc-js's event handlers. A
 *    handler that throws is answered by grpc-js with UNKNOWN; that is our bug,
 *    not the caller's, so it goes out as INTERNAL with the request id to
 *    quote. A request that did not decode is INVALID_ARGUMENT naming its type
 *    (see UndecodableRequest). Once the guard ended a call itself, what the
 *    handler still sends is dropped: grpc-js would write it after the end of
 *    the HTTP/2 stream and leave the call without its trailers;
 * 5. while draining, UNAVAILABLE (draining.ts);
 * 6. with auth on, UNAUTHENTICATED without a principal (auth.ts);
 * 7. the default and maximum deadline, handed to the handler (deadline.ts).
 *
 * Every status that is not OK goes out with a google.rpc.Status (errors.ts).
 */
export function callInterceptor(options: CallInterceptorOptions): ServerInterceptor {
  const { config, logger, metrics, principals, tracing } = options;
  const auth = principals.enabled
    ? new AuthGate(principals, { protectReflection: config.auth.protectReflection, certificates: config.tls?.requireClientCert })
    : undefined;
  const traced = tracing?.enabled === true ? tracing : undefined;
  return (method, call) => {
    const path = method.path;
    const log = new CallLog(logger, metrics, path, () => call.getPeer());
    const span = traced ? new CallSpan(traced, path) : undefined;
    const refuse = options.isDraining() && refusedWhileDraining(path);
    let requestId = '';
    let state: CallState | undefined;
    /** A status went out: nothing more comes in. */
    let ended = false;
    /** The guard sent that status itself: nothing more goes out either. */
    let endedHere = false;
    let backstop: NodeJS.Timeout | undefined;

    /** The last steps of every status, on its way to the wire: the request id, then the log line and the span, off the caller's path. */
    const toWire = (status: SentStatus, send: (status: SentStatus) => void) => {
      if (requestId) {
        const metadata = status.metadata ?? new Metadata();
        metadata.set(REQUEST_ID_KEY, requestId);
        send({ ...status, metadata });
        state?.end();
      } else send(status);
      log.finish(status.code ?? Status.UNKNOWN, status.details);
      span?.end(status.code ?? Status.UNKNOWN, status.details);
    };
    /** A status from the handler or from steps 5-7: OK as it is, UNKNOWN as INTERNAL, any other with its details. */
    const respond = (status: SentStatus, send: (status: SentStatus) => void) => {
      clearTimeout(backstop);
      if (endedHere) return;
      ended = true;
      if (status.code === Status.OK) return toWire(status, send);
      if (status.code !== Status.UNKNOWN) return toWire(withDetails(status), send);
      logger.error({ requestId, method: path, details: status.details }, 'handler failed');
      toWire(failureStatus(new StreamFailure(StatusCode.INTERNAL, internalErrorMessage(requestId)), status.metadata ?? undefined), send);
    };
    const toClient = (status: SentStatus) => call.sendStatus(status);
    /** The guard ends the call itself. */
    const end = (failure: StreamFailure) => {
      if (ended) return;
      ended = true;
      endedHere = true;
      clearTimeout(backstop);
      toWire(failureStatus(failure), toClient);
    };
    const guarded = (step: () => void) => {
      if (ended) return;
      try {
        step();
      } catch (error) {
        logger.error({ err: error, requestId, method: path }, 'call failed inside the server');
        end(new StreamFailure(StatusCode.INTERNAL, internalErrorMessage(requestId)));
      }
    };

    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            requestId = requestIdFrom((name) => metadata.get(name)[0]);
            state = startCallContext(metadata, requestId);
            log.state = state;
            span?.start(metadata, state);
            const context = state;
            guarded(() => {
              if (refuse) return respond(failureStatus(SERVER_DRAINING()), toClient);
              if (auth?.guards(path)) {
                const principal = auth.principalOf(metadata, call);
                if (!principal) return respond(failureStatus(UNAUTHENTICATED()), toClient);
                context.principal = principal;
              }
              const deadline = callDeadline(config, path, call.getDeadline());
              if (deadline) {
                context.deadlineMs = deadline.deadlineMs;
                if (deadline.backstopMs !== undefined) {
                  backstop = setTimeout(() => respond(failureStatus(DEADLINE_EXCEEDED()), toClient), deadline.backstopMs);
                }
              }
              nextMetadata(metadata);
            });
          },
          onReceiveMessage(message, nextMessage) {
            guarded(() => {
              if (message instanceof UndecodableRequest) end(message.failure());
              else nextMessage(message);
            });
          },
          onReceiveHalfClose(nextHalfClose) {
            guarded(() => nextHalfClose());
          },
          onCancel() {
            clearTimeout(backstop);
            state?.end();
            log.cancelled();
            span?.end(Status.CANCELLED, 'cancelled by the client');
          },
        });
      },
      sendMetadata(metadata, next) {
        if (requestId) metadata.set(REQUEST_ID_KEY, requestId);
        next(metadata);
      },
      sendMessage(message, next) {
        if (endedHere) return;
        log.sent(message);
        next(message);
      },
      sendStatus(status, next) {
        respond(status, next);
      },
    });
  };
}
