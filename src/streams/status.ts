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

/** An error that carries the status code its caller should see. */
export class StreamFailure extends Error {
  constructor(
    readonly code: StatusCode,
    message: string,
  ) {
    super(message);
    this.name = 'StreamFailure';
  }
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
  return new StreamFailure(StatusCode.NOT_FOUND, `${field}: no stream with id ${JSON.stringify(id)}`);
}
