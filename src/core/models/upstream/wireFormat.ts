import type { Usage } from '../../streams/tokenStream';
import type { GenerationRequest } from '../types';

/** One step of an upstream's streamed answer, as its wire format reads it. */
export interface UpstreamStep {
  /** Text to relay as one token; absent or empty for steps that carry none. */
  token?: string;
  finishReason?: 'stop' | 'length';
  /** Counts the upstream reported. */
  usage?: Partial<Usage>;
  /** The answer is complete (OpenAI's `[DONE]`, Ollama's `done: true`). */
  done?: boolean;
}

/** How one upstream API is spoken: where to POST, what to send, how to read what comes back. */
export interface WireFormat {
  /** The backend name ListModels shows. */
  readonly backend: string;
  /** Appended to baseUrl. */
  readonly path: string;
  /** The Accept header: the streaming media type. */
  readonly accept: string;
  /** The JSON request body for a generation against the upstream model id. */
  requestBody(request: GenerationRequest, model: string): unknown;
  /** The answer's steps, read from the body as it arrives; throws an UpstreamError on a malformed body or an error object. */
  steps(body: AsyncIterable<Uint8Array>): AsyncIterable<UpstreamStep>;
}

/** The conversation to send: the messages, then the prompt (if any) as a last user message. */
export function chatMessages(request: GenerationRequest): Array<{ role: string; content: string }> {
  const messages = request.messages.map(({ role, content }) => ({ role, content }));
  if (request.prompt.length > 0) messages.push({ role: 'user', content: request.prompt });
  return messages;
}

/** A count if the upstream sent a usable one. */
export function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}
