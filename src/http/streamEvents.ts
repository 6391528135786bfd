import { type Chunk, pumpStream } from '../core/pump';
import { StatusCode, type StreamFailure, fieldFailure, reasonOf } from '../core/streams/status';
import type { StreamReader, StreamView } from '../core/streams/store';
import { leaveWhenDraining } from '../core/draining';
import { requireStream } from '../core/lookup';
import { openAiUsage } from './chatFormat';
import { type HttpCall, type HttpContext, type HttpHandler, STREAM_ID_HEADER } from './context';
import { armDeadline } from './deadline';
import { HttpError } from './errors';
import { HttpOutput, sseChunkOutput } from './httpOutput';
import { codeName } from './status';
import { sseEvent, startSse } from './sse';

const SEQ = /^\d{1,15}$/;

/** Where a follow starts, and which input said so (for error messages). */
export interface ResumePoint {
  fromSeq: number;
  field: 'Last-Event-ID' | 'from_seq';
}

/**
 * Where a follow starts: after the Last-Event-ID a reconnecting EventSource
 * sends (it names the last token seen, so the next is id + 1), else at
 * ?from_seq=, else at 0. The header wins over the query because an
 * EventSource reconnects to the same URL, query and all, adding the header.
 */
export function resumePoint(call: HttpCall): ResumePoint {
  const lastEventId = call.request.headers['last-event-id'];
  if (typeof lastEventId === 'string' && lastEventId !== '') {
    if (!SEQ.test(lastEventId.trim())) {
      throw new HttpError(
        400,
        `Last-Event-ID: must be the seq of a token seen (a non-negative integer), got ${JSON.stringify(lastEventId.slice(0, 40))}`,
        {
          param: 'Last-Event-ID',
          code: 'invalid_argument',
        },
      );
    }
    return { fromSeq: Number(lastEventId.trim()) + 1, field: 'Last-Event-ID' };
  }
  const fromSeq = call.url.searchParams.get('from_seq');
  if (fromSeq === null || fromSeq === '') return { fromSeq: 0, field: 'from_seq' };
  if (!SEQ.test(fromSeq)) {
    throw new HttpError(400, `from_seq: must be a non-negative integer, got ${JSON.stringify(fromSeq.slice(0, 40))}`, {
      param: 'from_seq',
      code: 'invalid_argument',
    });
  }
  return { fromSeq: Number(fromSeq), field: 'from_seq' };
}

/**
 * Opens the reader. Past the end of a finished stream is OUT_OF_RANGE (416),
 * told in terms of what the client sent; past the current end of a live
 * stream waits for that token, as Subscribe does.
 */
function openAt(stream: StreamView, point: ResumePoint): StreamReader {
  if (!stream.end || point.fromSeq <= stream.nextSeq) return stream.openReader(point.fromSeq);
  const sent = point.field === 'Last-Event-ID' ? point.fromSeq - 1 : point.fromSeq;
  throw fieldFailure(
    StatusCode.OUT_OF_RANGE,
    point.field,
    `${sent} is past the end of finished stream ${stream.id}, which has ${stream.nextSeq} tokens` +
      (point.field === 'Last-Event-ID' && stream.nextSeq > 0 ? ` (the last seq is ${stream.nextSeq - 1})` : ''),
  );
}

/** An events-format chunk: `id:` the seq of its last token, data {seq, tokens}; the end as `event: end`. */
function formatEvent(chunk: Chunk): string {
  let text = '';
  if (chunk.tokens.length > 0) {
    text += sseEvent(JSON.stringify({ seq: chunk.seq, tokens: chunk.tokens }), { id: chunk.seq + chunk.tokens.length - 1 });
  }
  if (chunk.end) {
    text += sseEvent(JSON.stringify({ finish_reason: chunk.end.reason, usage: openAiUsage(chunk.end.usage) }), { event: 'end' });
  }
  return text;
}

function errorEvent(failure: StreamFailure): string {
  return sseEvent(JSON.stringify({ code: codeName(failure.code), reason: reasonOf(failure), message: failure.message }), {
    event: 'error',
  });
}

/**
 * GET /v1/streams/{stream_id}/events: a stream as SSE from a resume point,
 * what an EventSource or `curl -N` can follow. Each event's `id:` is the seq
 * of its last token; `: heartbeat` comments fill silences; the stream ends
 * with `event: end` {finish_reason, usage} or `event: error` {code, message}.
 * Problems found before the first byte are plain HTTP errors: 400 for a bad
 * resume point, 404 for an unknown stream, 416 for a resume point past the
 * end. Like Subscribe, a follower that leaves a non-resumable stream last
 * cancels it.
 */
export function streamEvents(context: HttpContext): HttpHandler {
  return async (call) => {
    const point = resumePoint(call);
    const stream = await requireStream(context, call.params[0], call.context.principal);
    call.streamId = stream.id;
    call.context.noteStream(stream);
    const reader = openAt(stream, point);
    const output = new HttpOutput(call.response);
    output.onGone(() => reader.close());
    const deadline = armDeadline(context, 'Subscribe', reader);
    // A draining replica drops the connection: the client resumes from Last-Event-ID on another one.
    const stopFollowing = leaveWhenDraining(context, reader, () => call.response.destroy());
    try {
      startSse(call.response, { [STREAM_ID_HEADER]: stream.id });
      const chunks = sseChunkOutput(output, formatEvent, (count) => context.metrics.tokensRelayed.inc(count));
      const end = await pumpStream(reader, chunks, context.config.streams);
      call.context.noteEnd(end);
      const failure = end?.failure ?? deadline.expired();
      output.end(failure ? errorEvent(failure) : undefined);
    } finally {
      deadline.clear();
      stopFollowing();
      reader.close();
    }
  };
}
