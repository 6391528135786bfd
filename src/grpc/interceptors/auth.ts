import { type ServerInterceptor, ServerInterceptingCall, status as Status } from '@grpc/grpc-js';
import { bearerTokenCheck } from '../../core/bearerToken';

/** Health and reflection stay open so probes and grpcurl `list` work without a token. */
const OPEN_PREFIXES = ['/grpc.health.v1.', '/grpc.reflection.'];

/**
 * Bearer-token auth: `authorization: Bearer <token>` must carry one of the
 * configured tokens, compared in constant time. Every failure gets the same
 * UNAUTHENTICATED message, so a caller learns nothing about which part was
 * wrong. With no tokens configured this interceptor is not in the chain.
 */
export function authInterceptor(tokens: readonly string[]): ServerInterceptor {
  const isAccepted = bearerTokenCheck(tokens);
  return (method, call) => {
    if (OPEN_PREFIXES.some((prefix) => method.path.startsWith(prefix))) return new ServerInterceptingCall(call);
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
