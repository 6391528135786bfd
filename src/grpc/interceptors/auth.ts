import { type ServerInterceptor, ServerInterceptingCall } from '@grpc/grpc-js';
import { type Principals, identify } from '../../core/principals';
import { StatusCode, StreamFailure } from '../../core/streams/status';
import { failureStatus } from '../status';
import { callContextOf } from './context';

/** Health stays open for probes; reflection too (so grpcurl `list` works without a token) unless protected. */
const HEALTH_PREFIX = '/grpc.health.v1.';
const REFLECTION_PREFIX = '/grpc.reflection.';

export interface AuthOptions {
  /** Reflection needs a principal too. */
  protectReflection?: boolean;
  /** Client certificates are verified on every connection (mTLS required), so their CN may name a principal. */
  certificates?: boolean;
}

/**
 * Auth: the call must be a principal, by `authorization: Bearer <token>` or,
 * under required mTLS, by its client certificate's CN; the principal goes in
 * the call's context for the handlers (stream ownership) and the log line.
 * Every failure gets the same UNAUTHENTICATED message, so a caller learns
 * nothing about which part was wrong. With auth off this interceptor is not
 * in the chain.
 */
export function authInterceptor(principals: Principals, options: AuthOptions = {}): ServerInterceptor {
  const open = options.protectReflection ? [HEALTH_PREFIX] : [HEALTH_PREFIX, REFLECTION_PREFIX];
  return (method, call) => {
    if (open.some((prefix) => method.path.startsWith(prefix))) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start(next) {
        let allowed = false;
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const certificateName = options.certificates ? call.getAuthContext().sslPeerCertificate?.subject?.CN : undefined;
            const principal = identify(principals, metadata.get('authorization')[0], certificateName);
            allowed = principal !== undefined;
            if (principal) {
              callContextOf(metadata).principal = principal;
              nextMetadata(metadata);
            } else call.sendStatus(failureStatus(new StreamFailure(StatusCode.UNAUTHENTICATED, 'missing or invalid bearer token')));
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
