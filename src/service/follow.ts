import type { ServerWritableStream } from '@grpc/grpc-js';
import type { TokenChunk } from '../gen/tokenrelay/v1/data_service';
import { asFailure } from '../streams/status';
import type { StreamReader } from '../streams/tokenStream';
import { CallOutput } from './callOutput';
import type { ServiceContext } from './context';
import { pumpStream } from './pump';

/**
 * Streams a stream to a server-streaming call (Generate, Subscribe) from the
 * reader's position: chunks, then OK after the last chunk, or the stream's
 * failure as the call's status. A consumer that leaves closes the reader,
 * which may cancel the stream (see AbandonPolicy).
 */
export async function followStream(
  context: ServiceContext,
  call: ServerWritableStream<unknown, TokenChunk>,
  openReader: () => StreamReader,
): Promise<void> {
  const output = new CallOutput<TokenChunk>(call);
  let reader: StreamReader | undefined;
  try {
    reader = openReader();
    const openedReader = reader;
    output.onGone(() => openedReader.close());
    const end = await pumpStream(reader, output, context.config.streams);
    if (end?.failure) output.fail(end.failure.code, end.failure.message);
    else output.end();
  } catch (error) {
    const failure = asFailure(error);
    output.fail(failure.code, failure.message);
  } finally {
    reader?.close();
  }
}
