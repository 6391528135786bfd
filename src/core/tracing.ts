import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { AttemptTrace, GenerationRequest, ModelTrace } from './models/types';
import { StatusCode, reasonOf } from './streams/status';
import type { StreamEnd, StreamObserver, StreamWriter } from './streams/store';

/** The OpenTelemetry GenAI semantic conventions' attribute names that tokenrelay sets. */
export const GEN_AI = {
  operation: 'gen_ai.operation.name',
  provider: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  maxTokens: 'gen_ai.request.max_tokens',
  temperature: 'gen_ai.request.temperature',
  topP: 'gen_ai.request.top_p',
  seed: 'gen_ai.request.seed',
  stopSequences: 'gen_ai.request.stop_sequences',
  finishReasons: 'gen_ai.response.finish_reasons',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
} as const;

/** tokenrelay's own span attributes, beside the conventions'. */
export const RELAY = {
  streamId: 'tokenrelay.stream.id',
  firstSeq: 'tokenrelay.stream.seq.first',
  lastSeq: 'tokenrelay.stream.seq.last',
  attempts: 'tokenrelay.upstream.attempts',
  reason: 'tokenrelay.error.reason',
  cancelledBy: 'tokenrelay.cancelled_by',
} as const;

const NO_PROPAGATOR: TextMapPropagator = {
  inject: () => undefined,
  extract: (context) => context,
  fields: () => [],
};

interface GenerationSpan {
  span: Span;
  attempts: number;
}

/**
 * The server's traces, or none: without a tracer every method returns at
 * once and nothing is created on any path, so tracing off costs a branch.
 * Spans are parented explicitly (no async context): the edge starts a call's
 * span from the caller's `traceparent`, the generation's span is its child,
 * and each upstream attempt's span is the generation's child, whose context
 * goes upstream in the attempt's own `traceparent`. It observes the store to
 * end a generation's span when its stream ends, with the usage, finish
 * reason and sequence range.
 */
export class Tracing implements StreamObserver {
  private readonly generations = new WeakMap<StreamWriter, GenerationSpan>();

  constructor(
    private readonly tracer?: Tracer,
    private readonly propagator: TextMapPropagator = NO_PROPAGATOR,
  ) {}

  get enabled(): boolean {
    return this.tracer !== undefined;
  }

  /** A SERVER span for a call, the child of the `traceparent` the caller sent (read with `header`). */
  startCall(name: string, attributes: Attributes, header: (name: string) => string | undefined): Span | undefined {
    if (!this.tracer) return undefined;
    const parent = this.propagator.extract(ROOT_CONTEXT, undefined, {
      get: (_carrier, key) => header(key),
      keys: () => [],
    });
    return this.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  }

  /** Ends a call's span with its status: an error when the code says the server failed it. */
  endCall(span: Span | undefined, attributes: Attributes, failed: boolean, message?: string): void {
    if (!span) return;
    span.setAttributes(attributes);
    if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message });
    span.end();
  }

  /**
   * Starts the span of a generation the call started, a child of the call's
   * span; ended by the store's `ended` (or `released`). The model traces its
   * upstream attempts with what this returns. The prompt's token count is
   * set when it ends, from its usage: reading it here would count a long
   * prompt at the call's start.
   */
  startGeneration(
    writer: StreamWriter,
    parent: Span | undefined,
    request: GenerationRequest,
    backend: string,
    chat: boolean,
  ): ModelTrace | undefined {
    if (!this.tracer) return undefined;
    const operation = chat ? 'chat' : 'text_completion';
    const attributes: Attributes = {
      [GEN_AI.operation]: operation,
      [GEN_AI.provider]: backend,
      [GEN_AI.requestModel]: writer.model,
      [GEN_AI.maxTokens]: request.maxTokens,
      [GEN_AI.temperature]: request.temperature,
      [GEN_AI.topP]: request.topP,
      [GEN_AI.seed]: request.seed,
      [RELAY.streamId]: writer.id,
      ...(request.stop.length > 0 ? { [GEN_AI.stopSequences]: request.stop } : {}),
    };
    const context = parent ? trace.setSpan(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
    const span = this.tracer.startSpan(`${operation} ${writer.model}`, { kind: SpanKind.INTERNAL, attributes }, context);
    const entry: GenerationSpan = { span, attempts: 0 };
    this.generations.set(writer, entry);
    const generation = trace.setSpan(ROOT_CONTEXT, span);
    return { attempt: (method, url) => this.startAttempt(entry, generation, method, url) };
  }

  ended(stream: StreamWriter, end: StreamEnd): void {
    const entry = this.generations.get(stream);
    if (!entry) return;
    this.generations.delete(stream);
    const { span, attempts } = entry;
    if (stream.firstTokenAtMs !== undefined) {
      span.addEvent('gen_ai.first_token', { [RELAY.firstSeq]: 0 }, performance.timeOrigin + stream.firstTokenAtMs);
    }
    span.setAttributes({
      [GEN_AI.finishReasons]: [end.reason],
      [GEN_AI.outputTokens]: end.usage.completionTokens,
      [GEN_AI.inputTokens]: end.usage.promptTokens,
      [RELAY.firstSeq]: 0,
      [RELAY.lastSeq]: stream.nextSeq - 1,
      ...(attempts > 0 ? { [RELAY.attempts]: attempts } : {}),
    });
    const { failure } = end;
    if (failure) {
      span.setAttribute(RELAY.reason, reasonOf(failure));
      if (failure.details.cancelledBy) span.setAttribute(RELAY.cancelledBy, failure.details.cancelledBy);
      // A cancel is the caller's choice, not an error of the generation.
      if (failure.code !== StatusCode.CANCELLED) span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
    }
    span.end();
  }

  /** Another replica took the stream over: this replica's span of it ends here. */
  released(stream: StreamWriter): void {
    const entry = this.generations.get(stream);
    if (!entry) return;
    this.generations.delete(stream);
    entry.span.setAttribute(RELAY.lastSeq, stream.nextSeq - 1);
    entry.span.addEvent('tokenrelay.stream.moved');
    entry.span.end();
  }

  private startAttempt(entry: GenerationSpan, generation: Context, method: string, url: string): AttemptTrace {
    const tracer = this.tracer as Tracer;
    entry.attempts++;
    const target = new URL(url);
    const span = tracer.startSpan(
      method,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'http.request.method': method,
          'url.full': `${target.origin}${target.pathname}`,
          'server.address': target.hostname,
          'server.port': Number(target.port) || (target.protocol === 'https:' ? 443 : 80),
          ...(entry.attempts > 1 ? { 'http.request.resend_count': entry.attempts - 1 } : {}),
        },
      },
      generation,
    );
    const headers: Record<string, string> = {};
    this.propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, {
      set: (carrier, key, value) => {
        carrier[key] = value;
      },
    });
    return {
      headers,
      end: (status, error) => {
        if (status !== undefined) span.setAttribute('http.response.status_code', status);
        if (error !== undefined || (status !== undefined && status >= 400)) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : undefined });
          if (error !== undefined) span.setAttribute('error.type', error instanceof Error ? error.name : 'error');
        }
        span.end();
      },
    };
  }
}
