import { Metadata, type ServiceError, type StatusObject, type status } from '@grpc/grpc-js';
import type { Any } from '../gen/google/protobuf/any';
import { BadRequest, ErrorInfo, RetryInfo } from '../gen/google/rpc/error_details';
import { Status } from '../gen/google/rpc/status';
import { StatusCode, type StreamFailure, asFailure, reasonOf, retryAfterOf } from '../core/streams/status';

/** The trailer every gRPC runtime reads a google.rpc.Status from. */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/** ErrorInfo.domain: who defines the reasons. */
export const ERROR_DOMAIN = 'tokenrelay';

/** Codes whose failure names a request field the caller can fix, sent as a BadRequest field violation. */
const FIELD_CODES = new Set([StatusCode.INVALID_ARGUMENT, StatusCode.OUT_OF_RANGE]);

function pack(typeName: string, value: Uint8Array): Any {
  return { typeUrl: `type.googleapis.com/${typeName}`, value: Buffer.from(value) };
}

/**
 * A failure as a google.rpc.Status: the same code and message as the
 * grpc-status and grpc-message trailers, with an ErrorInfo carrying its
 * stable reason, a BadRequest naming the field at fault (INVALID_ARGUMENT,
 * OUT_OF_RANGE), and a RetryInfo when retrying later helps
 * (RESOURCE_EXHAUSTED, UNAVAILABLE).
 */
export function statusDetails(failure: StreamFailure): Buffer {
  return Buffer.from(Status.encode({ code: failure.code, message: failure.message, details: failureDetails(failure) }).finish());
}

/** The typed details of a failure (see statusDetails), as a session's StreamError also carries them. */
export function failureDetails(failure: StreamFailure): Any[] {
  const details: Any[] = [
    pack('google.rpc.ErrorInfo', ErrorInfo.encode({ reason: reasonOf(failure), domain: ERROR_DOMAIN, metadata: {} }).finish()),
  ];
  const { field } = failure;
  if (field !== undefined && FIELD_CODES.has(failure.code)) {
    const prefix = `${field}: `;
    const description = failure.message.startsWith(prefix) ? failure.message.slice(prefix.length) : failure.message;
    const violation = { field, description, reason: '' };
    details.push(pack('google.rpc.BadRequest', BadRequest.encode({ fieldViolations: [violation] }).finish()));
  }
  const retryAfterMs = retryAfterOf(failure);
  if (retryAfterMs !== undefined) {
    const retryDelay = { seconds: Math.floor(retryAfterMs / 1000), nanos: (retryAfterMs % 1000) * 1_000_000 };
    details.push(pack('google.rpc.RetryInfo', RetryInfo.encode({ retryDelay }).finish()));
  }
  return details;
}

/** Trailers carrying the failure's details, added to the given ones (which are changed). */
export function failureTrailers(failure: StreamFailure, trailers = new Metadata()): Metadata {
  trailers.set(STATUS_DETAILS_KEY, statusDetails(failure));
  return trailers;
}

/** A failure as the status a server call or interceptor sends. */
export function failureStatus(failure: StreamFailure, trailers?: Metadata): StatusObject {
  return { code: failure.code as number as status, details: failure.message, metadata: failureTrailers(failure, trailers) };
}

/** A thrown value as the error a grpc-js callback takes; unknown errors are INTERNAL with a safe message. */
export function toServiceError(error: unknown): ServiceError {
  const failure = asFailure(error);
  return Object.assign(new Error(failure.message), failureStatus(failure));
}
