import type { ChatMessage } from '../core/models/types';
import type { GenerateInput } from '../core/validate';
import { HttpError, invalidField } from './errors';

/** A chat-completions request body: the generation it asks for (the same input as a gRPC GenerateRequest), and how to answer it. */
export interface ChatCall {
  request: GenerateInput;
  /** `stream: true`: answer with SSE chat.completion.chunk events; else one chat.completion body. */
  stream: boolean;
  /** `stream_options.include_usage`: a last chunk with empty choices carries the usage. */
  includeUsage: boolean;
}

type Body = Record<string, unknown>;

function isObject(value: unknown): value is Body {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An optional field: absent and null both mean "the default". */
function optional<T>(body: Body, field: string, check: (value: unknown) => value is T, expected: string): T | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!check(value)) throw invalidField(field, `must be ${expected}, got ${JSON.stringify(value)?.slice(0, 64)}`);
  return value;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isBoolean = (value: unknown): value is boolean => typeof value === 'boolean';
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isInteger = (value: unknown): value is number => Number.isSafeInteger(value);

/** Message content: a string, null (an assistant turn with tool calls), or text parts, joined. */
function contentOf(value: unknown, path: string): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) throw invalidField(path, 'must be a string or an array of text parts');
  return value
    .map((part, index) => {
      if (!isObject(part) || part.type !== 'text' || typeof part.text !== 'string') {
        throw invalidField(`${path}[${index}]`, 'only text parts ({"type": "text", "text": "..."}) are supported');
      }
      return part.text;
    })
    .join('');
}

function messagesOf(value: unknown): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0) throw invalidField('messages', 'must be a non-empty array of messages');
  return value.map((message, index) => {
    if (!isObject(message) || typeof message.role !== 'string') {
      throw invalidField(`messages[${index}]`, 'must be an object with a string role');
    }
    return { role: message.role, content: contentOf(message.content, `messages[${index}].content`) };
  });
}

function stopOf(body: Body): string[] {
  const stop = body.stop;
  if (stop === undefined || stop === null) return [];
  if (typeof stop === 'string') return [stop];
  if (Array.isArray(stop) && stop.every(isString)) return stop;
  throw invalidField('stop', 'must be a string or an array of strings');
}

/**
 * Reads an OpenAI chat-completions body. Fields it does not know are ignored,
 * as OpenAI-compatible servers do; fields it knows with a wrong type are 400
 * with the field as `param`. Limits (max_tokens, temperature, prompt size,
 * stop sequences, model) are checked later by the same validation as gRPC.
 * Extensions: `stream_id` (a client-chosen id, so a retry attaches instead of
 * generating twice) and `resumable` (default false).
 */
export function parseChatRequest(body: unknown): ChatCall {
  if (!isObject(body)) throw new HttpError(400, 'body: must be a JSON object', { code: 'invalid_argument' });
  const n = optional(body, 'n', isInteger, 'an integer');
  if (n !== undefined && n !== 1) throw invalidField('n', `only 1 choice per request is supported, got ${n}`);
  const streamOptions = optional(body, 'stream_options', isObject, 'an object');
  const includeUsage = streamOptions?.include_usage ?? false;
  if (!isBoolean(includeUsage)) throw invalidField('stream_options.include_usage', 'must be a boolean');
  const maxTokens =
    optional(body, 'max_completion_tokens', isInteger, 'an integer') ?? optional(body, 'max_tokens', isInteger, 'an integer');
  const request: GenerateInput = {
    model: optional(body, 'model', isString, 'a string') ?? '',
    prompt: '',
    messages: messagesOf(body.messages),
    maxTokens,
    temperature: optional(body, 'temperature', isNumber, 'a number'),
    topP: optional(body, 'top_p', isNumber, 'a number'),
    stop: stopOf(body),
    seed: optional(body, 'seed', isInteger, 'an integer'),
    streamId: optional(body, 'stream_id', isString, 'a string') ?? '',
    resumable: optional(body, 'resumable', isBoolean, 'a boolean') ?? false,
  };
  return { request, stream: optional(body, 'stream', isBoolean, 'a boolean') ?? false, includeUsage };
}
