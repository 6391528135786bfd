import type { Usage } from '../streams/tokenStream';

/** One turn of a chat conversation. */
export interface ChatMessage {
  role: string;
  content: string;
}

/** A validated generation request, with every default applied. */
export interface GenerationRequest {
  prompt: string;
  messages: ChatMessage[];
  maxTokens: number;
  /** 0 to 2; 0 is greedy. */
  temperature: number;
  /** Greater than 0, at most 1. */
  topP: number;
  stop: string[];
  seed: number;
  /** The caller's deadline, in ms since the epoch, when it set one: upstream models start no retry past it. */
  deadlineMs?: number;
  /** With tracing on: how an upstream model traces each HTTP attempt (a span, and its traceparent upstream). */
  trace?: ModelTrace;
}

/** One upstream HTTP attempt's span: the headers that carry its context, and its end. */
export interface AttemptTrace {
  /** `traceparent` (and `tracestate`): the upstream request's own, in the same trace. */
  readonly headers: Record<string, string>;
  /** Ends the span with the response status, or the error the attempt failed with. */
  end(status: number | undefined, error?: unknown): void;
}

/** What a model gets to trace its upstream requests (core/tracing.ts): a child span per attempt of the generation's span. */
export interface ModelTrace {
  attempt(method: string, url: string): AttemptTrace;
}

/**
 * Where a model puts its tokens. The model must await what append() returns:
 * that is how a slow consumer pauses it.
 */
export interface TokenSink {
  append(token: string): Promise<void> | undefined;
  /** Optional: appends several tokens at once, with the same contract as append(). */
  appendMany?(tokens: readonly string[]): Promise<void> | undefined;
  /** Optional: how many tokens may be appended before the sink asks the producer to wait. */
  readonly room?: number;
}

/** How a generation ended normally. Failures are thrown (StreamFailure). */
export interface GenerationResult {
  finishReason: 'stop' | 'length';
  /** Counts the model reported; the stream's own counts are used where absent. */
  usage?: Partial<Usage>;
}

/** What ListModels shows of a model. */
export interface ModelDescription {
  name: string;
  backend: string;
  description: string;
  /** Upstream models only; never carries credentials. */
  baseUrl?: string;
}

/**
 * A producer of tokens. It knows nothing of streams or gRPC: it gets the
 * request, a signal that aborts it (cancel, deadline, shutdown), and a sink.
 */
export interface ModelBackend {
  readonly description: ModelDescription;
  countPromptTokens(request: GenerationRequest): number;
  generate(request: GenerationRequest, signal: AbortSignal, sink: TokenSink): Promise<GenerationResult>;
}
