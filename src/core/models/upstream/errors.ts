import { StatusCode, StreamFailure } from '../../streams/status';

/**
 * A failed upstream attempt: the status the caller sees, and whether another
 * attempt may succeed (only ever tried before the first token was relayed).
 */
export class UpstreamError extends StreamFailure {
  constructor(
    code: StatusCode,
    message: string,
    /** Another attempt may succeed: a connection problem, 429, 500, 502, 503 or 504. */
    readonly retryable: boolean,
    /** How long the upstream asked us to wait (Retry-After), in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(code, message);
    this.name = 'UpstreamError';
  }
}

/** A body that does not follow the wire format: a garbage line, an HTML page. Never retried. */
export function formatError(message: string): UpstreamError {
  return new UpstreamError(StatusCode.UNAVAILABLE, message, false);
}

/** Statuses worth another attempt: the upstream is overloaded or briefly broken. */
const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504]);

/** Client errors, each the caller's to fix: never retried, mapped to the gRPC code that says so. */
const CLIENT_ERROR_CODES: Record<number, StatusCode> = {
  400: StatusCode.INVALID_ARGUMENT,
  401: StatusCode.UNAUTHENTICATED,
  403: StatusCode.PERMISSION_DENIED,
  404: StatusCode.NOT_FOUND,
  422: StatusCode.INVALID_ARGUMENT,
};

/** An HTTP error answer as the caller sees it; `detail` is the upstream's own message. */
export function httpStatusError(status: number, statusText: string, detail: string, retryAfterMs?: number): UpstreamError {
  const message = `upstream answered ${status}${statusText ? ` ${statusText}` : ''}${detail ? `: ${detail}` : ''}`;
  const clientCode = CLIENT_ERROR_CODES[status];
  if (clientCode !== undefined) return new UpstreamError(clientCode, message, false);
  // Other statuses (408, 409, 501, ...) are the upstream's trouble, not the caller's: UNAVAILABLE.
  return new UpstreamError(StatusCode.UNAVAILABLE, message, RETRYABLE_STATUSES.has(status), retryAfterMs);
}

/** Error codes of a connection that failed or broke: all worth another attempt before the first token. */
const CONNECTION_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'refused the connection',
  ECONNRESET: 'reset the connection',
  EPIPE: 'closed the connection',
  ETIMEDOUT: 'timed out at the TCP level',
  EHOSTUNREACH: 'is unreachable',
  ENETUNREACH: 'is unreachable',
  ENOTFOUND: 'host name did not resolve',
  EAI_AGAIN: 'host name did not resolve',
  UND_ERR_SOCKET: 'closed the connection',
  UND_ERR_CLOSED: 'closed the connection',
  UND_ERR_CONNECT_TIMEOUT: 'did not accept the connection in time (timeouts.connectMs)',
  UND_ERR_HEADERS_TIMEOUT: 'sent no response headers in time (timeouts.headersMs)',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'ended the body early',
};

/** A transport error (from undici or the socket) as a retryable UNAVAILABLE that says what happened. */
export function connectionError(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const code = errorCode(error);
  const what = (code && CONNECTION_ERRORS[code]) ?? (code?.startsWith('HPE_') ? 'sent a response that is not HTTP' : 'connection failed');
  return new UpstreamError(StatusCode.UNAVAILABLE, `upstream ${what}${code ? ` (${code})` : ''}`, true);
}

/** The `code` of an error, or of its `cause` (Node wraps socket errors). */
function errorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The start of an upstream's text, quoted, for an error message. */
export function quote(text: string, maxChars = 80): string {
  return JSON.stringify(text.length > maxChars ? `${text.slice(0, maxChars)}…` : text);
}

/**
 * The message in an upstream's error object, in the shapes servers use:
 * OpenAI's and llama.cpp's `{"error": {"message"}}`, vLLM's older
 * `{"object": "error", "message"}`, Ollama's `{"error": "..."}`, FastAPI's
 * `{"detail": ...}`. Undefined when it is none of them.
 */
export function messageOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { error, message, detail } = body as { error?: unknown; message?: unknown; detail?: unknown };
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
    return (error as { message: string }).message;
  }
  if (typeof message === 'string') return message;
  if (typeof detail === 'string') return detail;
  if (detail !== undefined) return JSON.stringify(detail);
  return undefined;
}
