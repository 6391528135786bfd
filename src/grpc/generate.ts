import type { ServerWritableStream } from '@grpc/grpc-js';
import type { GenerateRequest, TokenChunk } from '../gen/tokenrelay/v1/data_service';
import { callContextOf } from './interceptors/context';
import type { ServiceContext } from '../core/context';
import { followStream } from './follow';
import { startGeneration } from '../core/generation';

export function generate(context: ServiceContext) {
  return (call: ServerWritableStream<GenerateRequest, TokenChunk>) =>
    followStream(context, call as ServerWritableStream<unknown, TokenChunk>, async () => {
      const { stream, writer, cached } = await startGeneration(context, call.request, callContextOf(call.metadata));
      return { reader: stream.openReader(0), owner: writer, cached };
    });
}
