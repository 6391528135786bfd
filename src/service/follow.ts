import type { ServerWritableStream } from '@grpc/grpc-js';
import type { TokenChunk } from '../gen/tokenrelay/v1/data_service';
import { StatusCode, StreamFailure, asFailure } from '../streams/status';
import type { StreamReader } from '../streams/tokenStream';
import { callDeadlineMs, callRequestId } from './callContext';
import { CallOutput } from './callOutput';
import type { ServiceContext } from './context';
import { pumpStream } from './pump';

/** What a server-streaming call follows: a reader, and whether the call started the stream. */
export interface Followed {
  reader: StreamReader;
  /** The call started the stream, so its deadline bounds the producer too. */
  owner: boolean;
}

/**
 * Streams a stream to a server-streaming call (Generate, Subscribe) from the
 * reader's position: chunks, then OK after the last chunk, or the stream's
 * failure as the call's status. A consumer that leaves closes the reader,
 * which may cancel the stream (see AbandonPolicy). At the call's deadline the
 * call ends with DEADLINE_EXCEEDED, and a stream the call started is stopped.
 */
export async function followStream(
  context: ServiceContext,
  call: ServerWritableStream<unknown, TokenChunk>,
  open: () => Followed,
): Promise<void> {
  const output = new CallOutput<TokenChunk>(call);
  let reader: StreamReader | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;
  try {
    const deadlineMs = callDeadlineMs(call.metadata);
    if (deadlineMs <= Date.now()) {
      throw new StreamFailure(StatusCode.DEADLINE_EXCEEDED, 'deadline exceeded before the call started; nothing was started');
    }
    const followed = open();
    reader = followed.reader;
    const { stream } = reader;
    const openedReader = reader;
    output.onGone(() => openedReader.close());
    if (deadlineMs !== Infinity) {
      const startedMs = Date.now();
      deadlineTimer = setTimeout(() => {
        const failure = new StreamFailure(
          StatusCode.DEADLINE_EXCEEDED,
          `deadline exceeded after ${Date.now() - startedMs} ms` + (followed.owner ? '; the producer was stopped' : ''),
        );
        if (followed.owner && stream.fail(failure)) return; // the pump ends the call with it
        output.fail(failure.code, failure.message);
        openedReader.close();
      }, deadlineMs - Date.now());
    }
    const end = await pumpStream(reader, output, context.config.streams);
    if (end?.failure) output.fail(end.failure.code, end.failure.message);
    else output.end();
  } catch (error) {
    if (!(error instanceof StreamFailure)) {
      context.logger.error({ err: error, requestId: callRequestId(call.metadata) }, 'handler failed');
    }
    const failure = asFailure(error);
    output.fail(failure.code, failure.message);
  } finally {
    clearTimeout(deadlineTimer);
    reader?.close();
  }
}
