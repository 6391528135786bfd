import { type ServerInterceptor, ServerInterceptingCall } from '@grpc/grpc-js';
import { StatusCode, StreamFailure } from '../../core/streams/status';
import { failureStatus } from '../status';

/** Served while draining: health, so probes see NOT_SERVING, and reflection, so grpcurl still knows the service and shows the UNAVAILABLE. */
const OPEN_WHILE_DRAINING = ['/grpc.health.v1.Health/', '/grpc.reflection.'];

/**
 * While the server drains for shutdown, new calls get UNAVAILABLE at once so
 * clients go to another replica. Health and reflection stay open.
 */
export function drainingInterceptor(isDraining: () => boolean): ServerInterceptor {
  return (method, call) => {
    if (!isDraining() || OPEN_WHILE_DRAINING.some((prefix) => method.path.startsWith(prefix))) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata() {
            call.sendStatus(
              failureStatus(
                new StreamFailure(StatusCode.UNAVAILABLE, 'the server is shutting down; retry on another replica', {
                  reason: 'SERVER_DRAINING',
                }),
              ),
            );
          },
          onReceiveMessage() {},
          onReceiveHalfClose() {},
        });
      },
    });
  };
}
