/**
 * Canonical status codes (google.rpc.Code). They are language-neutral, so the
 * stream log can say how a stream failed without knowing about gRPC; the
 * service layer hands them to grpc-js unchanged.
 */
export enum StatusCode {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

/**
 * What a failure says beyond its code and message, as data the edges carry
 * to the wire (the gRPC status details, the OpenAI error's `param`) instead
 * of parsing it back out of the message.
 */
export interface FailureDetails {
  /** The request field at fault, as the message names it (`max_tokens`, `messages[2].role`). */
  field?: string;
}

/** An error that carries the status code its caller should see. */
export class StreamFailure extends Error {
  constructor(
    readonly code: StatusCode,
    message: string,
    readonly details: FailureDetails = {},
  ) {
    super(message);
    this.name = 'StreamFailure';
  }

  /** The request field at fault, if one is. */
  get field(): string | undefined {
    return this.details.field;
  }
}

/** A failure about one request field: the message starts with the field, which is also kept as data. */
export function fieldFailure(code: StatusCode, field: string, text: string): StreamFailure {
  return new StreamFailure(code, `${field}: ${text}`, { field });
}

/** INVALID_ARGUMENT naming the field and why. */
export function invalidField(field: string, text: string): StreamFailure {
  return fieldFailure(StatusCode.INVALID_ARGUMENT, field, text);
}

/** Any thrown value as a StreamFailure; unknown errors become INTERNAL with a safe message. */
export function asFailure(error: unknown): StreamFailure {
  if (error instanceof StreamFailure) return error;
  return new StreamFailure(StatusCode.INTERNAL, 'internal error');
}

/**
 * What a caller is told of a failure that is our bug: nothing of its cause,
 * only the request id to quote, which finds the logged stack.
 */
export function internalErrorMessage(requestId: string): string {
  return `internal error (request id ${requestId})`;
}

/** NOT_FOUND for a stream id, naming the field it came in. */
export function notFound(id: string, field = 'stream_id'): StreamFailure {
  return fieldFailure(StatusCode.NOT_FOUND, field, `no stream with id ${JSON.stringify(id)}`);
}

/** The ids streams may have: what a client may choose, and all a key or a path may carry. */
const STREAM_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Checks a stream id's form; INVALID_ARGUMENT names the field. */
export function checkStreamId(id: string, field = 'stream_id'): void {
  if (!STREAM_ID.test(id))
    throw invalidField(field, `must be 1 to 128 characters from [A-Za-z0-9._:-], got ${JSON.stringify(id.slice(0, 140))}`);
}

/** ALREADY_EXISTS for a stream id: live (being produced), finished (and retained), or with a producer attached. */
export function alreadyExists(id: string, state: 'live' | 'finished' | 'producing', field = 'stream_id'): StreamFailure {
  const what = { live: 'is already live', finished: 'already exists (it has finished)', producing: 'already has a live producer' }[state];
  return fieldFailure(StatusCode.ALREADY_EXISTS, field, `stream ${JSON.stringify(id)} ${what}`);
}
