import { Metadata, type ServiceError, type status } from '@grpc/grpc-js';
import { asFailure } from '../core/streams/status';

/** A thrown value as the error a grpc-js callback takes; unknown errors are INTERNAL with a safe message. */
export function toServiceError(error: unknown): ServiceError {
  const failure = asFailure(error);
  return Object.assign(new Error(failure.message), {
    code: failure.code as number as status,
    details: failure.message,
    metadata: new Metadata(),
  });
}
