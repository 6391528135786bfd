import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { CancelRequest, CancelResponse } from '../gen/tokenrelay/v1/data_service';
import { StatusCode, StreamFailure } from '../core/streams/status';
import type { ServiceContext } from '../core/context';
import { toServiceError } from './status';
import { stopStream } from '../core/lookup';
import { callContextOf } from './interceptors/context';

export function cancel(context: ServiceContext) {
  return (call: ServerUnaryCall<CancelRequest, CancelResponse>, callback: sendUnaryData<CancelResponse>) => {
    const { streamId } = call.request;
    const failure = new StreamFailure(StatusCode.CANCELLED, `stream ${streamId} was cancelled by a Cancel call`, {
      reason: 'STREAM_CANCELLED',
      cancelledBy: 'cancel',
    });
    stopStream(context, streamId, failure, callContextOf(call.metadata).principal).then(
      (cancelled) => callback(null, { streamId, cancelled }),
      (error: unknown) => callback(toServiceError(error)),
    );
  };
}
