import { StatusCode } from '../../streams/status';
import { UpstreamError, formatError, messageOf, quote } from './errors';
import { SseParser, type SseEvent } from './sse';
import { type UpstreamStep, type WireFormat, chatMessages, count } from './wireFormat';

/**
 * finish_reason values and the proto's: content_filter and tool_calls end the
 * text as a stop does (function_call is the older tool_calls).
 */
const FINISH_REASONS: Record<string, 'stop' | 'length'> = {
  stop: 'stop',
  length: 'length',
  content_filter: 'stop',
  tool_calls: 'stop',
  function_call: 'stop',
};

/**
 * OpenAI's chat-completions streaming format, as vLLM, llama.cpp's server,
 * TGI's Messages API, LM Studio, Ollama's /v1 and OpenAI send it: SSE events
 * whose data is a `chat.completion.chunk`, a last chunk with `usage` (asked
 * for with stream_options.include_usage) and empty `choices`, then
 * `data: [DONE]`. An error object in the stream is UNAVAILABLE with the
 * upstream's message.
 */
export const openAiFormat: WireFormat = {
  backend: 'openai',
  path: '/chat/completions',
  accept: 'text/event-stream',

  requestBody(request, model) {
    return {
      model,
      messages: chatMessages(request),
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      top_p: request.topP,
      ...(request.stop.length > 0 ? { stop: request.stop } : {}),
      seed: request.seed,
    };
  },

  async *steps(body) {
    const parser = new SseParser();
    for await (const bytes of body) {
      for (const event of parser.push(bytes)) {
        const step = stepOf(event);
        if (step) yield step;
        if (step?.done) return;
      }
    }
    for (const event of parser.end()) {
      const step = stepOf(event);
      if (step) yield step;
    }
  },
};

function stepOf(event: SseEvent): UpstreamStep | undefined {
  if (event.event !== 'message' && event.event !== 'error') return undefined; // events no OpenAI-compatible server defines
  if (event.data.trim() === '[DONE]') return { done: true };
  let chunk: unknown;
  try {
    chunk = JSON.parse(event.data);
  } catch {
    if (event.event === 'error') throw reportedError(event.data);
    throw formatError(`upstream sent an event whose data is not JSON: ${quote(event.data)}`);
  }
  if (typeof chunk !== 'object' || chunk === null) {
    throw formatError(`upstream sent an event whose data is not a JSON object: ${quote(event.data)}`);
  }
  const { error, object, choices, usage } = chunk as { error?: unknown; object?: unknown; choices?: unknown; usage?: unknown };
  if (event.event === 'error' || (error !== undefined && error !== null) || object === 'error') {
    throw reportedError(messageOf(chunk) ?? event.data);
  }
  const step: UpstreamStep = {};
  const choice = Array.isArray(choices) ? (choices[0] as { delta?: { content?: unknown }; finish_reason?: unknown }) : undefined;
  const content = choice?.delta?.content;
  if (typeof content === 'string' && content !== '') step.token = content;
  if (typeof choice?.finish_reason === 'string') step.finishReason = FINISH_REASONS[choice.finish_reason] ?? 'stop';
  if (typeof usage === 'object' && usage !== null) {
    const { prompt_tokens, completion_tokens } = usage as { prompt_tokens?: unknown; completion_tokens?: unknown };
    step.usage = { promptTokens: count(prompt_tokens), completionTokens: count(completion_tokens) };
  }
  return step;
}

/** An error the upstream sent in the stream: UNAVAILABLE with its message, not retried (it answered, and said no). */
function reportedError(message: string): UpstreamError {
  return new UpstreamError(StatusCode.UNAVAILABLE, `upstream reported an error: ${quote(message, 300)}`, false);
}
