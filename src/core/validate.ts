import { createHash } from 'node:crypto';
import type { ChatMessage, GenerationRequest, ModelBackend } from './models/types';
import type { LimitsConfig, TimeoutsConfig } from './config';
import type { PaceLimits } from './streams/watchdog';
import type { ModelCatalog } from './models/catalog';
import { checkStreamId, invalidField } from './streams/status';

const ROLES = new Set(['system', 'user', 'assistant', 'tool', 'developer']);
const MAX_STOP_SEQUENCES = 4;
const MAX_STOP_BYTES = 64;

export { checkStreamId };

/**
 * What a caller asks a generation for, as either edge reads it: the fields
 * of the proto's GenerateRequest (a gRPC request is one as it is), before
 * defaults and limits. Unset optional values are undefined.
 */
export interface GenerateInput {
  /** Empty for the default model. */
  model: string;
  prompt: string;
  messages: readonly ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop: readonly string[];
  seed?: number;
  /** Empty for a fresh id. */
  streamId: string;
  resumable: boolean;
  ttftTimeoutMs?: number;
  idleTimeoutMs?: number;
}

/** A generation request checked against the limits, with defaults applied. */
export interface ValidatedGenerate {
  model: ModelBackend;
  request: GenerationRequest;
  streamId: string;
  resumable: boolean;
  /** Identifies the request, so a retry with the same stream_id attaches instead of generating twice. */
  fingerprint: RequestFingerprint;
  pace: PaceLimits;
}

/**
 * A request's fingerprint: a SHA-256 of the request (43 characters), which
 * every live and retained stream keeps, where the request itself would be up
 * to limits.maxPromptBytes of prompt and messages per stream. Computed when
 * first read: inside a busy server the JSON and the hash take about 20 µs, and
 * a new stream needs them only once its first token is out (see
 * CreateStreamOptions.fingerprint), or when a retry names a stream.
 */
export class RequestFingerprint {
  private json: string | undefined;
  private hash: string | undefined;

  constructor(
    private readonly model: string,
    private readonly resumable: boolean,
    private readonly request: GenerationRequest,
  ) {}

  /** The SHA-256, base64url. */
  get value(): string {
    // createHash, not crypto.hash: that one needs Node 20.12, and package.json promises 20.
    this.hash ??= createHash('sha256').update(this.legacy).digest('base64url');
    return this.hash;
  }

  /** The same request as the fingerprint of a stream started by an older build (a rolling deploy) reads: its JSON. */
  get legacy(): string {
    this.json ??= JSON.stringify([this.model, this.resumable, this.request]);
    return this.json;
  }
}

function paceLimit(value: number | undefined, field: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw invalidField(field, `must be at least 1 ms, got ${value}`);
  return Math.min(value, max);
}

/** Validates a generation's input; INVALID_ARGUMENT or NOT_FOUND with the field and the limit. */
export function validateGenerate(
  input: GenerateInput,
  models: ModelCatalog,
  limits: LimitsConfig,
  timeouts: TimeoutsConfig,
): ValidatedGenerate {
  const model = models.resolve(input.model);
  if (input.prompt.length === 0 && input.messages.length === 0) {
    throw invalidField('prompt', 'is empty and there are no messages; set prompt or messages');
  }
  let promptBytes = Buffer.byteLength(input.prompt);
  for (const [index, message] of input.messages.entries()) {
    if (!ROLES.has(message.role)) {
      throw invalidField(
        `messages[${index}].role`,
        `must be one of ${[...ROLES].join(', ')}, got ${JSON.stringify(message.role.slice(0, 64))}`,
      );
    }
    promptBytes += Buffer.byteLength(message.content);
  }
  if (promptBytes > limits.maxPromptBytes) {
    throw invalidField('prompt', `${promptBytes} bytes (prompt and messages together) is over the limit of ${limits.maxPromptBytes} bytes`);
  }
  const maxTokens = input.maxTokens ?? limits.defaultMaxTokens;
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > limits.maxTokens) {
    throw invalidField('max_tokens', `must be between 1 and ${limits.maxTokens}, got ${maxTokens}`);
  }
  const temperature = input.temperature ?? 1;
  if (!(temperature >= 0 && temperature <= 2)) {
    throw invalidField('temperature', `must be between 0 and 2, got ${temperature}`);
  }
  const topP = input.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw invalidField('top_p', `must be greater than 0 and at most 1, got ${topP}`);
  if (input.stop.length > MAX_STOP_SEQUENCES) {
    throw invalidField('stop', `at most ${MAX_STOP_SEQUENCES} sequences, got ${input.stop.length}`);
  }
  for (const [index, stop] of input.stop.entries()) {
    const bytes = Buffer.byteLength(stop);
    if (bytes < 1 || bytes > MAX_STOP_BYTES) throw invalidField(`stop[${index}]`, `must be 1 to ${MAX_STOP_BYTES} bytes, got ${bytes}`);
  }
  if (input.streamId !== '') checkStreamId(input.streamId, 'stream_id');
  const pace: PaceLimits = {
    ttftMs: paceLimit(input.ttftTimeoutMs, 'ttft_timeout_ms', timeouts.ttftMs, timeouts.maxTtftMs),
    idleMs: paceLimit(input.idleTimeoutMs, 'idle_timeout_ms', timeouts.idleMs, timeouts.maxIdleMs),
  };
  const request: GenerationRequest = {
    prompt: input.prompt,
    messages: input.messages.map((message) => ({ role: message.role, content: message.content })),
    maxTokens,
    temperature,
    topP,
    stop: [...input.stop],
    seed: input.seed ?? 0,
  };
  const fingerprint = new RequestFingerprint(model.description.name, input.resumable, request);
  return { model, request, streamId: input.streamId, resumable: input.resumable, fingerprint, pace };
}
