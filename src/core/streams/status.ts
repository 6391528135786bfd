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
  /**
   * A stable reason a client may branch on (google.rpc.ErrorInfo.reason):
   * the message text may change, the reason does not. Unset, it is the
   * code's name (INVALID_ARGUMENT, UNAVAILABLE, ...).
   */
  reason?: FailureReason;
  /**
   * How long a client should wait before retrying (google.rpc.RetryInfo,
   * HTTP Retry-After). Unset, RESOURCE_EXHAUSTED and UNAVAILABLE say one
   * second; null says a retry cannot help (a size limit).
   */
  retryAfterMs?: number | null;
  /** For a cancel: who cancelled (on the call's log line). */
  cancelledBy?: CancelSource;
}

/**
 * Who cancelled a stream, as call log lines say: `client` (the caller
 * cancelled its call or went away), `cancel` (a Cancel call, here or on
 * another replica), `delete` (DELETE /v1/streams/{id}), `session` (a
 * StreamData cancel), `abandoned` (its last consumer left, past the grace).
 */
export type CancelSource = 'client' | 'cancel' | 'delete' | 'session' | 'abandoned';

/**
 * The reasons tokenrelay gives beyond the status code. They are part of the
 * contract, listed in the README; add, never rename.
 */
export type FailureReason =
  /** No stream has the id (or the caller's principal may not see it). */
  | 'STREAM_NOT_FOUND'
  /** The stream id is taken, by a live or a finished stream, or by another request. */
  | 'STREAM_ALREADY_EXISTS'
  /** The stream was cancelled: by Cancel, DELETE, or its last consumer leaving. */
  | 'STREAM_CANCELLED'
  /** from_seq is past the end of a finished stream. */
  | 'SEQ_OUT_OF_RANGE'
  /** No model has the name. */
  | 'MODEL_NOT_FOUND'
  /** The model (an upstream) failed or refused. */
  | 'MODEL_FAILED'
  /** The model gave no first token, or no next token, in time. */
  | 'MODEL_TIMEOUT'
  /** The stream's producer (a publisher, or the replica generating it) went away. */
  | 'PRODUCER_LOST'
  /** A per-stream size limit (tokens or bytes) would be passed; retrying cannot help. */
  | 'STREAM_TOO_LARGE'
  /** Too many live streams, on the server or for the caller. */
  | 'TOO_MANY_STREAMS'
  /** The caller's token rate limit is spent for now. */
  | 'RATE_LIMITED'
  /** The server is shutting down; another replica can serve the call. */
  | 'SERVER_DRAINING'
  /** The stream store (redis) cannot be reached. */
  | 'STORE_UNAVAILABLE';

/** The reason a failure goes out with: its own, else its code's name. */
export function reasonOf(failure: StreamFailure): string {
  return failure.details.reason ?? StatusCode[failure.code] ?? 'UNKNOWN';
}

/** How long to wait before retrying, for the codes where retrying later helps; undefined when it does not. */
export function retryAfterOf(failure: StreamFailure): number | undefined {
  if (failure.code !== StatusCode.RESOURCE_EXHAUSTED && failure.code !== StatusCode.UNAVAILABLE) return undefined;
  const { retryAfterMs } = failure.details;
  if (retryAfterMs === null) return undefined;
  return retryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
}

/** What RetryInfo says when the failure itself knows no better. */
const DEFAULT_RETRY_AFTER_MS = 1000;

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
export function fieldFailure(code: StatusCode, field: string, text: string, details: FailureDetails = {}): StreamFailure {
  return new StreamFailure(code, `${field}: ${text}`, { ...details, field });
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
  return fieldFailure(StatusCode.NOT_FOUND, field, `no stream with id ${JSON.stringify(id)}`, { reason: 'STREAM_NOT_FOUND' });
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
  return fieldFailure(StatusCode.ALREADY_EXISTS, field, `stream ${JSON.stringify(id)} ${what}`, { reason: 'STREAM_ALREADY_EXISTS' });
}
