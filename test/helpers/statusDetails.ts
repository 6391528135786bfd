import type { ServiceError } from '@grpc/grpc-js';
import { BadRequest, ErrorInfo, RetryInfo } from '../../src/gen/google/rpc/error_details';
import { Status } from '../../src/gen/google/rpc/status';

/** What a failed call's grpc-status-details-bin trailer says, decoded. */
export interface DecodedDetails {
  code: number;
  message: string;
  /** The type URLs, in order. */
  types: string[];
  errorInfo?: ErrorInfo;
  badRequest?: BadRequest;
  retryDelayMs?: number;
}

/** Decodes the google.rpc.Status a call failed with; throws when the trailer is absent. */
export function detailsOf(error: ServiceError | undefined): DecodedDetails {
  const raw = error?.metadata?.get('grpc-status-details-bin')[0];
  if (!Buffer.isBuffer(raw)) throw new Error(`no grpc-status-details-bin trailer on ${error?.code}: ${error?.details}`);
  const status = Status.decode(raw);
  const decoded: DecodedDetails = { code: status.code, message: status.message, types: status.details.map((any) => any.typeUrl) };
  for (const any of status.details) {
    if (any.typeUrl === 'type.googleapis.com/google.rpc.ErrorInfo') decoded.errorInfo = ErrorInfo.decode(any.value);
    if (any.typeUrl === 'type.googleapis.com/google.rpc.BadRequest') decoded.badRequest = BadRequest.decode(any.value);
    if (any.typeUrl === 'type.googleapis.com/google.rpc.RetryInfo') {
      const delay = RetryInfo.decode(any.value).retryDelay;
      decoded.retryDelayMs = (delay?.seconds ?? 0) * 1000 + (delay?.nanos ?? 0) / 1e6;
    }
  }
  return decoded;
}
