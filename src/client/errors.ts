import { status as Status, type ServiceError } from '@grpc/grpc-js';
import { STREAM_ENDED_TRAILER } from '../common/headers';

/** A failed call or stream, with its status code and the server's message. */
export class TokenRelayError extends Error {
  constructor(
    readonly code: Status,
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(`${Status[code] ?? code}: ${details}`, options);
    this.name = 'TokenRelayError';
  }

  static from(error: unknown): TokenRelayError {
    if (error instanceof TokenRelayError) return error;
    const service = error as Partial<ServiceError>;
    if (typeof service.code === 'number') return new TokenRelayError(service.code, service.details ?? String(error), { cause: error });
    return new TokenRelayError(Status.UNKNOWN, error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/**
 * Whether a call failed without reaching any server: grpc-js could not
 * connect ("No connection established") or could not resolve the name to
 * connect to ("Name resolution failed").
 */
export function neverConnected(error: unknown): boolean {
  const { code, details = '' } = error as Partial<ServiceError>;
  return code === Status.UNAVAILABLE && /^([a-z_]+: )?(No connection established|Name resolution failed)/.test(details);
}

/** Why grpc-js could not connect, in a few words: "connection refused", "unknown host", ... */
function connectProblem(details: string): string {
  if (/ECONNREFUSED/.test(details)) return 'connection refused';
  if (/ENOTFOUND|EAI_AGAIN|Name resolution failed|DNS resolution failed/i.test(details)) return 'unknown host';
  if (/ETIMEDOUT|timed out/i.test(details)) return 'timed out';
  if (/EHOSTUNREACH|ENETUNREACH/.test(details)) return 'no route to host';
  if (/handshake|certificate|SSL|TLS/i.test(details)) return 'TLS handshake failed';
  const last = /Last error: (?:Error: )?([^.]*)/.exec(details)?.[1];
  return last?.trim() || 'no connection';
}

/** A call that never reached a server, said plainly: `cannot reach 127.0.0.1:1 (connection refused)`. */
export function unreachable(address: string, error: unknown): TokenRelayError {
  const details = (error as Partial<ServiceError>).details ?? '';
  return new TokenRelayError(Status.UNAVAILABLE, `cannot reach ${address} (${connectProblem(details)})`, { cause: error });
}

/**
 * Whether a failed stream is worth resuming: the connection or the server
 * went away (UNAVAILABLE, a GOAWAY, a reset), not the request being wrong,
 * and not the stream itself having ended so (its producer was lost, the
 * stream log went away): a status the server marks as the stream's own end
 * comes back the same on every resume.
 */
export function isTransient(error: unknown): boolean {
  const { code, details = '', metadata } = error as Partial<ServiceError>;
  if (metadata?.get(STREAM_ENDED_TRAILER).length) return false;
  if (code === Status.UNAVAILABLE) return true;
  // A reset connection can surface as INTERNAL "Received RST_STREAM ..." in grpc-js.
  return code === Status.INTERNAL && /RST_STREAM|Session closed|Connection dropped|ECONNRESET/.test(details);
}
