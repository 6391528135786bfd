import { type ServerInterceptor, ServerInterceptingCall } from '@grpc/grpc-js';
import { StatusCode, StreamFailure } from '../../core/streams/status';
import { failureStatus } from '../status';

/**
 * While the server drains for shutdown, new calls get UNAVAILABLE at once so
 * clients go to another replica. Health stays open so probes see NOT_SERVING.
 */
export function drainingInterceptor(isDraining: () => boolean): ServerInterceptor {
  return (method, call) => {
    if (!isDraining() || method.path.startsWith('/grpc.health.v1.Health/')) return new ServerInterceptingCall(call);
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
