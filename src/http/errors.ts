import type { ServerResponse } from 'node:http';
import { StatusCode, StreamFailure, internalErrorMessage } from '../core/streams/status';
import { codeName, errorTypeFor, httpStatusFor } from './status';

/** The error body OpenAI's API sends, which its SDKs turn into typed errors. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** A request the edge refuses, with its HTTP status and the OpenAI error fields. */
export class HttpError extends Error {
  readonly param: string | null;
  readonly code: string | null;

  constructor(
    readonly status: number,
    message: string,
    options: { param?: string | null; code?: string | null } = {},
  ) {
    super(message);
    this.name = 'HttpError';
    this.param = options.param ?? null;
    this.code = options.code ?? null;
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
 * `prompt` is `messages` here, since the HTTP body has no prompt).
 */
export function fromFailure(failure: StreamFailure): HttpError {
  const param = failure.field === 'prompt' ? 'messages' : (failure.field ?? null);
  const code = failure.code === StatusCode.NOT_FOUND && param === 'model' ? 'model_not_found' : codeName(failure.code);
  return new HttpError(httpStatusFor(failure.code), failure.message, { param, code });
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
  sendJson(response, error.status, error.body(), headers);
}
