import type { ServerWritableStream } from '@grpc/grpc-js';
import type { SubscribeRequest, TokenChunk } from '../gen/tokenrelay/v1/data_service';
import type { ServiceContext } from './context';
import { followStream } from './follow';

export function subscribe(context: ServiceContext) {
  return (call: ServerWritableStream<SubscribeRequest, TokenChunk>) =>
    followStream(context, call as ServerWritableStream<unknown, TokenChunk>, () => ({
      reader: context.registry.require(call.request.streamId).openReader(call.request.fromSeq),
      owner: false,
    }));
}
