import { StatusCode } from '../core/streams/status';

/**
 * The HTTP status for each canonical code: the one place the edge maps them.
 * It follows the mapping google.rpc.Code documents (and grpc-gateway uses),
 * CANCELLED as 499 "client closed request" included, with one change:
 * OUT_OF_RANGE is 416 Range Not Satisfiable rather than 400. On this edge the
 * only OUT_OF_RANGE is a resume point past the end of a stream, which is what
 * 416 says of a byte range past the end of a resource: the request is well
 * formed (not 400) and the stream exists (not 404), but it has no such part.
 */
const HTTP_STATUS: Record<StatusCode, number> = {
  [StatusCode.OK]: 200,
  [StatusCode.CANCELLED]: 499,
  [StatusCode.UNKNOWN]: 500,
  [StatusCode.INVALID_ARGUMENT]: 400,
  [StatusCode.DEADLINE_EXCEEDED]: 504,
  [StatusCode.NOT_FOUND]: 404,
  [StatusCode.ALREADY_EXISTS]: 409,
  [StatusCode.PERMISSION_DENIED]: 403,
  [StatusCode.RESOURCE_EXHAUSTED]: 429,
  [StatusCode.FAILED_PRECONDITION]: 400,
  [StatusCode.ABORTED]: 409,
  [StatusCode.OUT_OF_RANGE]: 416,
  [StatusCode.UNIMPLEMENTED]: 501,
  [StatusCode.INTERNAL]: 500,
  [StatusCode.UNAVAILABLE]: 503,
  [StatusCode.DATA_LOSS]: 500,
  [StatusCode.UNAUTHENTICATED]: 401,
};

export function httpStatusFor(code: StatusCode): number {
  return HTTP_STATUS[code] ?? 500;
}

/** The canonical code's name in the lower snake case OpenAI uses for error codes: `invalid_argument`. */
export function codeName(code: StatusCode): string {
  return (StatusCode[code] ?? 'UNKNOWN').toLowerCase();
}

/** The OpenAI error `type` for an HTTP status. */
export function errorTypeFor(httpStatus: number): string {
  if (httpStatus === 429) return 'requests';
  if (httpStatus >= 500) return 'server_error';
  return 'invalid_request_error';
}
