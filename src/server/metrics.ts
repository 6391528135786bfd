import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StreamObserver } from '../streams/store';

/** The service's Prometheus metrics, in their own registry (served on the HTTP side port at /metrics). */
export class Metrics {
  readonly registry = new Registry();

  /** Finished calls by method and status code name. */
  readonly calls = new Counter({
    name: 'tokenrelay_grpc_calls_total',
    help: 'gRPC calls finished, by method and status code',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });

  readonly callSeconds = new Histogram({
    name: 'tokenrelay_grpc_call_duration_seconds',
    help: 'gRPC call duration, by method',
    labelNames: ['method'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [this.registry],
  });

  readonly tokensRelayed = new Counter({
    name: 'tokenrelay_tokens_relayed_total',
    help: 'Tokens sent to consumers',
    registers: [this.registry],
  });

  readonly activeStreams = new Gauge({
    name: 'tokenrelay_active_streams',
    help: 'Token streams being produced now',
    registers: [this.registry],
  });

  readonly streamsEnded = new Counter({
    name: 'tokenrelay_streams_ended_total',
    help: 'Token streams ended, by finish reason (stop, length, cancelled, error) and model',
    labelNames: ['reason', 'model'] as const,
    registers: [this.registry],
  });

  readonly timeToFirstTokenSeconds = new Histogram({
    name: 'tokenrelay_time_to_first_token_seconds',
    help: 'Time from a stream starting to its first token, by model',
    labelNames: ['model'] as const,
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tokenrelay_' });
  }

  /** Observes the stream log: active streams, ends by reason, time to first token. */
  streamObserver(): StreamObserver {
    return {
      started: () => this.activeStreams.inc(),
      ended: (stream, end) => {
        this.activeStreams.dec();
        this.streamsEnded.inc({ reason: end.reason, model: stream.model });
        if (stream.firstTokenAtMs !== undefined) {
          this.timeToFirstTokenSeconds.observe({ model: stream.model }, (stream.firstTokenAtMs - stream.createdAtMs) / 1000);
        }
      },
    };
  }
}
