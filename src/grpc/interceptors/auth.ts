import { createHash, timingSafeEqual } from 'node:crypto';
import { type ServerInterceptor, ServerInterceptingCall, status as Status } from '@grpc/grpc-js';

/** Health and reflection stay open so probes and grpcurl `list` work without a token. */
const OPEN_PREFIXES = ['/grpc.health.v1.', '/grpc.reflection.'];

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * A check of an `authorization` header value: true when it is `Bearer <token>`
 * with one of the tokens. Digests are compared in constant time, against every
 * token, so timing tells nothing about which token or how much of it matched.
 * Shared by the gRPC interceptor and the HTTP edge.
 */
export function bearerTokenCheck(tokens: readonly string[]): (header: unknown) => boolean {
  const accepted = tokens.map(digest);
  return (header) => {
    if (typeof header !== 'string') return false;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return false;
    const given = digest(match[1]);
    let ok = false;
    for (const token of accepted) ok = timingSafeEqual(token, given) || ok;
    return ok;
  };
}

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
