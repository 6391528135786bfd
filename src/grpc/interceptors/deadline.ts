import { type Deadline, type ServerInterceptor, ServerInterceptingCall } from '@grpc/grpc-js';
import { type Config, deadlineFor } from '../../core/config';
import { StatusCode, StreamFailure } from '../../core/streams/status';
import { failureStatus } from '../status';
import { callContextOf } from './context';

const SERVICE_PREFIX = '/tokenrelay.v1.DataService/';
/** The handler stops its producer at the deadline; this backstop only catches a handler that did not. */
const BACKSTOP_MS = 250;

function toEpochMs(deadline: Deadline): number {
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

/**
 * A default deadline for calls that set none and a maximum that clamps
 * longer ones, per method (config `deadlines`). The effective deadline goes
 * to the handler in the call's context, so the handler can stop the producer
 * with DEADLINE_EXCEEDED; grpc-js enforces the client's own deadline, and
 * this interceptor enforces a shorter one.
 */
export function deadlineInterceptor(config: Config): ServerInterceptor {
  return (method, call) => {
    if (!method.path.startsWith(SERVICE_PREFIX)) return new ServerInterceptingCall(call);
    const bounds = deadlineFor(config, method.path.slice(SERVICE_PREFIX.length));
    let backstop: NodeJS.Timeout | undefined;
    const stopBackstop = () => clearTimeout(backstop);
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const now = Date.now();
            const clientDeadline = toEpochMs(call.getDeadline());
            let effective = clientDeadline;
            if (effective === Infinity && bounds.defaultMs > 0) effective = now + bounds.defaultMs;
            if (bounds.maxMs > 0) effective = Math.min(effective, now + bounds.maxMs);
            if (effective !== Infinity) {
              callContextOf(metadata).deadlineMs = effective;
              if (effective < clientDeadline) {
                backstop = setTimeout(
                  () => call.sendStatus(failureStatus(new StreamFailure(StatusCode.DEADLINE_EXCEEDED, 'deadline exceeded'))),
                  Math.max(0, effective - now) + BACKSTOP_MS,
                );
              }
            }
            nextMetadata(metadata);
          },
          onCancel: stopBackstop,
        });
      },
      sendStatus(status, next) {
        stopBackstop();
        next(status);
      },
    });
  };
}
