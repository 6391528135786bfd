import type { ServerWritableStream } from '@grpc/grpc-js';
import type { SubscribeRequest, TokenChunk } from '../gen/tokenrelay/v1/data_service';
import type { ServiceContext } from '../core/context';
import { followStream } from './follow';
import { requireStream } from '../core/lookup';
import { callContextOf } from './interceptors/context';

export function subscribe(context: ServiceContext) {
  return (call: ServerWritableStream<SubscribeRequest, TokenChunk>) =>
    followStream(context, call as ServerWritableStream<unknown, TokenChunk>, async () => ({
      reader: (await requireStream(context, call.request.streamId, callContextOf(call.metadata).principal)).openReader(
        call.request.fromSeq,
      ),
    }));
}
