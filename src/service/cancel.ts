import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { CancelRequest, CancelResponse } from '../gen/tokenrelay/v1/data_service';
import { StatusCode, StreamFailure } from '../streams/status';
import type { ServiceContext } from './context';
import { toServiceError } from './status';

export function cancel(context: ServiceContext) {
  return (call: ServerUnaryCall<CancelRequest, CancelResponse>, callback: sendUnaryData<CancelResponse>) => {
    try {
      const stream = context.registry.require(call.request.streamId);
      const cancelled = stream.fail(new StreamFailure(StatusCode.CANCELLED, `stream ${stream.id} was cancelled by a Cancel call`));
      callback(null, { streamId: stream.id, cancelled });
    } catch (error) {
      callback(toServiceError(error));
    }
  };
}
