import { type ServerInterceptor, ServerInterceptingCall, status as Status } from '@grpc/grpc-js';

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
            call.sendStatus({ code: Status.UNAVAILABLE, details: 'the server is shutting down; retry on another replica' });
          },
          onReceiveMessage() {},
          onReceiveHalfClose() {},
        });
      },
    });
  };
}
