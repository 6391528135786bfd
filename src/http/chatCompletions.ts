import { ChunkWriter, pumpStream } from '../core/pump';
import { leaveWhenDraining } from '../core/draining';
import { startGeneration } from '../core/generation';
import type { StreamReader } from '../core/streams/store';
import { ChatChunkFormatter, type CompletionInfo, completionBody } from './chatFormat';
import { type ChatCall, parseChatRequest } from './chatRequest';
import { CACHE_HEADER, type HttpCall, type HttpContext, type HttpHandler, STREAM_ID_HEADER } from './context';
import { readJsonBody } from './body';
import { armDeadline, type FollowDeadline, httpDeadlineMs } from './deadline';
import { fromFailure, sendJson } from './errors';
import { HttpOutput, sseChunkOutput } from './httpOutput';
import { sseEvent, startSse } from './sse';

/**
 * POST /v1/chat/completions: starts a generation on the stream log (or
 * attaches to the one a retry with the same stream_id started) and answers
 * as OpenAI does, as SSE chunks or one body. The connection closing before
 * the end is a consumer going away, as for gRPC: a non-resumable stream is
 * cancelled at once, a resumable one keeps its grace window.
 */
export function chatCompletions(context: HttpContext): HttpHandler {
  return async (call) => {
    const chat = parseChatRequest(await readJsonBody(call.request, context.config.limits.maxMessageBytes));
    call.context.deadlineMs = httpDeadlineMs(context, 'Generate');
    const { stream, writer, cached } = await startGeneration(context, chat.request, call.context);
    const reader = stream.openReader(0);
    call.streamId = stream.id;
    call.context.noteStream(stream);
    const output = new HttpOutput(call.response);
    output.onGone(() => reader.close());
    const deadline = armDeadline(context, 'Generate', reader, writer);
    // A draining replica drops a resumable stream's connection: the client resumes at /v1/streams/{id}/events elsewhere.
    const stopFollowing = leaveWhenDraining(context, reader, () => call.response.destroy());
    const info: CompletionInfo = { id: `chatcmpl-${stream.id}`, created: Math.floor(Date.now() / 1000), model: stream.model, cached };
    if (cached) call.response.setHeader(CACHE_HEADER, 'hit');
    try {
      if (chat.stream) await streamCompletion(context, call, chat, reader, output, deadline, info);
      else await completeOnce(context, call, reader, output, deadline, info);
    } finally {
      deadline.clear();
      stopFollowing();
      reader.close();
    }
  };
}

async function streamCompletion(
  context: HttpContext,
  call: HttpCall,
  chat: ChatCall,
  reader: StreamReader,
  output: HttpOutput,
  deadline: FollowDeadline,
  info: CompletionInfo,
): Promise<void> {
  startSse(call.response, { [STREAM_ID_HEADER]: reader.stream.id });
  const formatter = new ChatChunkFormatter(info, chat.includeUsage);
  const chunks = sseChunkOutput(
    output,
    (chunk) => formatter.format(chunk),
    (count) => context.metrics.tokensRelayed.inc(count),
  );
  const end = await pumpStream(reader, chunks, context.config.streams);
  call.context.noteEnd(end);
  const failure = end?.failure ?? deadline.expired();
  // OpenAI's SDKs raise an APIError for a data event that carries an error.
  if (failure) output.end(sseEvent(JSON.stringify(fromFailure(failure).body())));
  else output.end();
}

async function completeOnce(
  context: HttpContext,
  call: HttpCall,
  reader: StreamReader,
  output: HttpOutput,
  deadline: FollowDeadline,
  info: CompletionInfo,
): Promise<void> {
  const tokens: string[] = [];
  // Never full, so the pump never waits on the response's drain.
  const collector = new ChunkWriter((chunk) => {
    for (const token of chunk.tokens) tokens.push(token);
    return true;
  }, output);
  const end = await pumpStream(reader, collector, context.config.streams);
  call.context.noteEnd(end);
  const failure = end?.failure ?? deadline.expired();
  if (failure) throw failure;
  if (!end) return; // the client went away
  context.metrics.tokensRelayed.inc(tokens.length);
  sendJson(call.response, 200, completionBody(info, tokens, end), { [STREAM_ID_HEADER]: reader.stream.id });
}
