import { type ServerInterceptor, ServerInterceptingCall, status as Status } from '@grpc/grpc-js';
import { bearerTokenCheck } from '../../core/bearerToken';

/** Health stays open for probes; reflection too (so grpcurl `list` works without a token) unless protected. */
const HEALTH_PREFIX = '/grpc.health.v1.';
const REFLECTION_PREFIX = '/grpc.reflection.';

/**
 * Bearer-token auth: `authorization: Bearer <token>` must carry one of the
 * configured tokens, compared in constant time. Every failure gets the same
 * UNAUTHENTICATED message, so a caller learns nothing about which part was
 * wrong. With no tokens configured this interceptor is not in the chain.
 */
export function authInterceptor(tokens: readonly string[], options: { protectReflection?: boolean } = {}): ServerInterceptor {
  const isAccepted = bearerTokenCheck(tokens);
  const open = options.protectReflection ? [HEALTH_PREFIX] : [HEALTH_PREFIX, REFLECTION_PREFIX];
  return (method, call) => {
    if (open.some((prefix) => method.path.startsWith(prefix))) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start(next) {
        let allowed = false;
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            allowed = isAccepted(metadata.get('authorization')[0]);
            if (allowed) nextMetadata(metadata);
            else call.sendStatus({ code: Status.UNAUTHENTICATED, details: 'missing or invalid bearer token' });
          },
          onReceiveMessage(message, nextMessage) {
            if (allowed) nextMessage(message);
          },
          onReceiveHalfClose(nextHalfClose) {
            if (allowed) nextHalfClose();
          },
        });
      },
    });
  };
}
