import { Metadata, type ServerWritableStream } from '@grpc/grpc-js';
import type { TokenChunk } from '../gen/tokenrelay/v1/data_service';
import { STREAM_ENDED_TRAILER } from '../common/headers';
import { StatusCode, StreamFailure, asFailure } from '../core/streams/status';
import type { StreamReader, StreamWriter } from '../core/streams/store';
import { callContextOf } from './interceptors/context';
import { CallOutput } from './callOutput';
import type { ServiceContext } from '../core/context';
import { leaveWhenDraining } from '../core/draining';
import { pumpStream } from '../core/pump';
import { tokenChunkOutput } from './convert';

/** What a server-streaming call follows: a reader, and the stream's writer when the call started it. */
export interface Followed {
  reader: StreamReader;
  /** Set when the call started the stream, so its deadline bounds the producer too. */
  owner?: StreamWriter;
  /** Answered from the response cache: the final usage says so (cached_tokens). */
  cached?: boolean;
}

/**
 * Streams a stream to a server-streaming call (Generate, Subscribe) from the
 * reader's position: chunks, then OK after the last chunk, or the stream's
 * failure as the call's status. A consumer that leaves closes the reader,
 * which may cancel the stream (see AbandonPolicy). At the call's deadline the
 * call ends with DEADLINE_EXCEEDED, and a stream the call started is stopped.
 * On a shared store, a replica that starts draining sends its followers of
 * streams that survive them UNAVAILABLE at once, so they resume elsewhere.
 */
export async function followStream(
  context: ServiceContext,
  call: ServerWritableStream<unknown, TokenChunk>,
  open: () => Promise<Followed>,
): Promise<void> {
  const output = new CallOutput<TokenChunk>(call);
  let reader: StreamReader | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;
  let stopFollowing: (() => void) | undefined;
  try {
    const { deadlineMs } = callContextOf(call.metadata);
    if (deadlineMs <= Date.now()) {
      throw new StreamFailure(StatusCode.DEADLINE_EXCEEDED, 'deadline exceeded before the call started; nothing was started');
    }
    const startedMs = Date.now();
    const followed = await open();
    reader = followed.reader;
    callContextOf(call.metadata).noteStream(reader.stream);
    const openedReader = reader;
    const { owner } = followed;
    const deadlineFailure = () =>
      new StreamFailure(
        StatusCode.DEADLINE_EXCEEDED,
        `deadline exceeded after ${Date.now() - startedMs} ms${owner ? '; the producer was stopped' : ''}`,
      );
    const consumerGone = () => {
      // grpc-js ends a call at the client's deadline on its own timer, which may fire before ours: that is the deadline too.
      if (owner && Date.now() >= deadlineMs) owner.fail(deadlineFailure());
      openedReader.close();
    };
    output.onGone(consumerGone);
    if (output.gone) consumerGone(); // the consumer left while the stream was being opened
    if (deadlineMs !== Infinity) {
      deadlineTimer = setTimeout(() => {
        const failure = deadlineFailure();
        if (owner?.fail(failure)) return; // the pump ends the call with it
        output.fail(failure);
        openedReader.close();
      }, deadlineMs - Date.now());
    }
    stopFollowing = leaveWhenDraining(context, openedReader, (failure) => output.fail(failure));
    const end = await pumpStream(
      reader,
      tokenChunkOutput(reader.stream.id, (chunk) => output.write(chunk), output, followed.cached),
      context.config.streams,
    );
    callContextOf(call.metadata).noteEnd(end);
    if (end?.failure) output.fail(end.failure, streamEndedTrailer());
    else output.end();
  } catch (error) {
    if (!(error instanceof StreamFailure)) {
      context.logger.error({ err: error, requestId: callContextOf(call.metadata).requestId }, 'handler failed');
    }
    output.fail(asFailure(error));
  } finally {
    clearTimeout(deadlineTimer);
    stopFollowing?.();
    reader?.close();
  }
}

function streamEndedTrailer(): Metadata {
  const metadata = new Metadata();
  metadata.set(STREAM_ENDED_TRAILER, '1');
  return metadata;
}
