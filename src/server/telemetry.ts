import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { Context } from '@opentelemetry/api';
import type { TelemetryConfig } from '../core/config';
import { Tracing } from '../core/tracing';

/** Spans waiting for export at most; past it a span is dropped (and counted), never waited for. */
const MAX_QUEUED_SPANS = 2048;

/** What becomes of spans, for the metrics: exported, or dropped (a full queue, an exporter that failed). */
export type SpanOutcome = 'exported' | 'dropped';

/**
 * An exporter and a queue in front of it, counted: every span ends up
 * exported or dropped, and a collector that is down or slow costs calls
 * nothing (the queue is bounded; a full one drops the span at once).
 */
class CountedPipeline implements SpanProcessor {
  private pending = 0;
  private readonly batch: BatchSpanProcessor;

  constructor(
    exporter: SpanExporter,
    private readonly count: (outcome: SpanOutcome, spans: number) => void,
  ) {
    const counted: SpanExporter = {
      export: (spans, done) =>
        exporter.export(spans, (result) => {
          this.pending -= spans.length;
          this.count(result.code === ExportResultCode.SUCCESS ? 'exported' : 'dropped', spans.length);
          done(result);
        }),
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    };
    this.batch = new BatchSpanProcessor(counted, { maxQueueSize: MAX_QUEUED_SPANS });
  }

  onStart(span: Span, context: Context): void {
    this.batch.onStart(span, context);
  }

  onEnd(span: ReadableSpan): void {
    if (this.pending >= MAX_QUEUED_SPANS) {
      this.count('dropped', 1);
      return;
    }
    this.pending++;
    this.batch.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.batch.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.batch.shutdown();
  }
}

/**
 * OpenTelemetry for this server: off (a Tracing that creates nothing)
 * unless the config, after the OTEL_* variables, names an OTLP endpoint.
 * The provider is this server's own, not the process's global one, so
 * several servers in one process (the tests, --workers) never share it. The
 * OTEL_* variables the SDK reads apply: the service name and resource
 * attributes, the exporter's headers and timeout, the sampler, the batch
 * sizes and delay.
 */
export class Telemetry {
  private constructor(
    readonly tracing: Tracing,
    private readonly provider?: BasicTracerProvider,
  ) {}

  static start(config: TelemetryConfig, version: string, count: (outcome: SpanOutcome, spans: number) => void): Telemetry {
    if (!config.otlpEndpoint) return new Telemetry(new Tracing());
    const resource = defaultResource()
      .merge(resourceFromAttributes({ 'service.name': 'tokenrelay', 'service.version': version }))
      .merge(detectResources({ detectors: [envDetector] }));
    const exporter = new OTLPTraceExporter({ url: config.otlpEndpoint });
    const provider = new BasicTracerProvider({ resource, spanProcessors: [new CountedPipeline(exporter, count)] });
    return new Telemetry(new Tracing(provider.getTracer('tokenrelay', version), new W3CTraceContextPropagator()), provider);
  }

  get enabled(): boolean {
    return this.provider !== undefined;
  }

  /** Sends what is queued now. */
  async flush(): Promise<void> {
    await this.provider?.forceFlush();
  }

  /** Sends what is queued and stops. */
  async shutdown(): Promise<void> {
    await this.provider?.shutdown();
  }
}
