import type { ServerResponse } from 'node:http';
import { StreamFailure, internalErrorMessage, reasonOf, retryAfterOf } from '../core/streams/status';
import { errorTypeFor, httpStatusFor } from './status';

/** The error body OpenAI's API sends, which its SDKs turn into typed errors. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** A request the edge refuses, with its HTTP status and the OpenAI error fields. */
export class HttpError extends Error {
  readonly param: string | null;
  readonly code: string | null;
  /** Sent as Retry-After (whole seconds, rounded up) with a 429 or 503. */
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly status: number,
    message: string,
    options: { param?: string | null; code?: string | null; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.name = 'HttpError';
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** The headers that go with the error: Retry-After when retrying later helps. */
  headers(): Record<string, string> {
    return this.retryAfterMs === undefined ? {} : { 'retry-after': String(Math.ceil(this.retryAfterMs / 1000)) };
  }

  body(): OpenAiErrorBody {
    return { error: { message: this.message, type: errorTypeFor(this.status), param: this.param, code: this.code } };
  }
}

/** An invalid request field: 400 with the OpenAI field name as `param`. */
export function invalidField(param: string, message: string): HttpError {
  return new HttpError(400, `${param}: ${message}`, { param, code: 'invalid_argument' });
}

/**
 * A StreamFailure as the HTTP error clients see: its status from the one
 * mapping in status.ts, its `param` the failure's field (the gRPC request's
 * `prompt` is `messages` here, since the HTTP body has no prompt), its
 * `code` the failure's stable reason in lower snake case (`stream_not_found`,
 * `model_not_found`, else the code's name), and Retry-After as gRPC's RetryInfo.
 */
export function fromFailure(failure: StreamFailure): HttpError {
  const param = failure.field === 'prompt' ? 'messages' : (failure.field ?? null);
  const code = reasonOf(failure).toLowerCase();
  return new HttpError(httpStatusFor(failure.code), failure.message, { param, code, retryAfterMs: retryAfterOf(failure) });
}

/** Any thrown value as an HttpError; an unknown one (our bug) is a 500 that says nothing of its cause. */
export function toHttpError(error: unknown, requestId: string): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof StreamFailure) return fromFailure(error);
  return new HttpError(500, internalErrorMessage(requestId), { code: 'internal' });
}

/** Sends a JSON body with a status. */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response
    .writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      ...headers,
    })
    .end(text);
}

/** Sends an OpenAI-shaped error body. */
export function sendError(response: ServerResponse, error: HttpError, headers: Record<string, string> = {}): void {
  sendJson(response, error.status, error.body(), { ...error.headers(), ...headers });
}
