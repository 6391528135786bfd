import type { Chunk } from '../core/pump';
import type { StreamEnd } from '../core/streams/tokenStream';
import { sseEvent } from './sse';

/** Usage in OpenAI's shape. */
export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** On a response cache hit: the whole request was answered from the cache, the prompt included (OpenAI's shape for cached prompt tokens). */
  prompt_tokens_details?: { cached_tokens: number };
}

export function openAiUsage(usage: { promptTokens: number; completionTokens: number }, cached = false): OpenAiUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    ...(cached ? { prompt_tokens_details: { cached_tokens: usage.promptTokens } } : {}),
  };
}

/** What every chunk and completion of one response repeats. */
export interface CompletionInfo {
  /** `chatcmpl-<stream id>`. */
  id: string;
  /** Unix seconds. */
  created: number;
  model: string;
  /** Answered from the response cache. */
  cached?: boolean;
}

/**
 * Turns the pump's chunks into SSE chat.completion.chunk events, as OpenAI
 * sends them: the first delta carries the role, each event's content is its
 * chunk's tokens joined, a last chunk carries the finish reason, with
 * include_usage a chunk with empty choices carries the usage, then
 * `data: [DONE]`. Each event with tokens has `id:` = the seq of its last
 * token, so a client can resume at /v1/streams/{id}/events from the next one.
 */
export class ChatChunkFormatter {
  private roleSent = false;

  constructor(
    private readonly info: CompletionInfo,
    private readonly includeUsage: boolean,
  ) {}

  format(chunk: Chunk): string {
    let text = '';
    if (chunk.tokens.length > 0) {
      text += sseEvent(JSON.stringify(this.chunk({ content: chunk.tokens.join('') }, null)), {
        id: chunk.seq + chunk.tokens.length - 1,
      });
    }
    const { end } = chunk;
    if (end) {
      text += sseEvent(JSON.stringify(this.chunk({}, end.reason)));
      if (this.includeUsage) {
        text += sseEvent(JSON.stringify({ ...this.envelope(), choices: [], usage: openAiUsage(end.usage, this.info.cached) }));
      }
      text += sseEvent('[DONE]');
    }
    return text;
  }

  private chunk(delta: { content?: string }, finishReason: string | null) {
    const withRole = this.roleSent ? delta : { role: 'assistant', ...delta };
    this.roleSent = true;
    return {
      ...this.envelope(),
      choices: [{ index: 0, delta: withRole, logprobs: null, finish_reason: finishReason }],
      ...(this.includeUsage ? { usage: null } : {}),
    };
  }

  private envelope() {
    return {
      id: this.info.id,
      object: 'chat.completion.chunk',
      created: this.info.created,
      model: this.info.model,
      system_fingerprint: null,
    };
  }
}

/** The one chat.completion body of a `stream: false` request. */
export function completionBody(info: CompletionInfo, tokens: readonly string[], end: StreamEnd) {
  return {
    id: info.id,
    object: 'chat.completion',
    created: info.created,
    model: info.model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: tokens.join(''), refusal: null },
        logprobs: null,
        finish_reason: end.reason,
      },
    ],
    usage: openAiUsage(end.usage, info.cached),
  };
}
