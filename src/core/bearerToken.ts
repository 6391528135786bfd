import { createHash, timingSafeEqual } from 'node:crypto';

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
