import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { afterTurn } from '../core/afterTurn';
import type { RedisStoreObserver } from '../core/streams/redis/store';
import type { StreamObserver } from '../core/streams/store';

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

  readonly principalCalls = new Counter({
    name: 'tokenrelay_principal_calls_total',
    help: 'gRPC calls finished, by principal and status code (with auth on; principals come from the config, so the label is bounded)',
    labelNames: ['principal', 'code'] as const,
    registers: [this.registry],
  });

  readonly principalTokens = new Counter({
    name: 'tokenrelay_principal_tokens_relayed_total',
    help: 'Tokens sent to consumers over gRPC, by principal (with auth on)',
    labelNames: ['principal'] as const,
    registers: [this.registry],
  });

  readonly spans = new Counter({
    name: 'tokenrelay_trace_spans_total',
    help: 'Trace spans by outcome: exported to the OTLP endpoint, or dropped (the queue was full or the export failed); with tracing on',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly cacheLookups = new Counter({
    name: 'tokenrelay_cache_total',
    help: 'Response cache: lookups that hit or missed, and results stored (config cache)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly principalRefused = new Counter({
    name: 'tokenrelay_principal_refused_total',
    help: 'New streams refused by limits.perPrincipal, by principal and limit (streams: maxConcurrentStreams; tokens: tokensPerMinute)',
    labelNames: ['principal', 'limit'] as const,
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

  /** Where the retained bytes are read from when /metrics is scraped (the memory store); unset, the gauge is absent. */
  retainedBytesOf: (() => number) | undefined;

  readonly retainedBytes = new Gauge({
    name: 'tokenrelay_retained_stream_bytes',
    help: 'UTF-8 bytes of token text in the finished streams this process keeps (memory store; bounded by streams.maxRetainedBytes)',
    registers: [this.registry],
    collect: () => {
      if (this.retainedBytesOf) this.retainedBytes.set(this.retainedBytesOf());
    },
  });

  readonly streamsEnded = new Counter({
    name: 'tokenrelay_streams_ended_total',
    help: 'Token streams ended, by finish reason (stop, length, cancelled, error) and model (a configured one, or "published")',
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

  readonly redisRoundTripSeconds = new Histogram({
    name: 'tokenrelay_redis_round_trip_seconds',
    help: 'Redis command round trips of the redis store, by operation (a script name or a command)',
    labelNames: ['op'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1],
    registers: [this.registry],
  });

  readonly redisErrors = new Counter({
    name: 'tokenrelay_redis_errors_total',
    help: 'Redis commands of the redis store that failed (unreachable, timed out), by operation',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });

  readonly redisPipelineCommands = new Histogram({
    name: 'tokenrelay_redis_pipeline_commands',
    help: 'Appends and ends written to Redis together in one event-loop turn (one pipeline)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });

  readonly redisLeaseTakeovers = new Counter({
    name: 'tokenrelay_redis_lease_takeovers_total',
    help: 'Resumable published streams whose producer moved to this replica from another',
    registers: [this.registry],
  });

  readonly redisProducersLost = new Counter({
    name: 'tokenrelay_redis_producers_lost_total',
    help: 'Streams this replica ended with UNAVAILABLE "producer lost" because their producer stopped renewing its lease',
    registers: [this.registry],
  });

  readonly redisUp = new Gauge({
    name: 'tokenrelay_redis_up',
    help: '1 while the redis store can reach Redis, 0 while it cannot',
    registers: [this.registry],
  });

  readonly connectionsRefused = new Counter({
    name: 'tokenrelay_connections_refused_total',
    help: 'Connections closed at once because the port had limits.maxConnections open, by port (grpc, http)',
    labelNames: ['port'] as const,
    registers: [this.registry],
  });

  readonly tlsReloads = new Counter({
    name: 'tokenrelay_tls_reloads_total',
    help: 'Certificate reloads (SIGHUP), by result: ok, or error (the previous certificates stay in use)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly tlsCertificateNotAfter = new Gauge({
    name: 'tokenrelay_tls_certificate_not_after_seconds',
    help: 'When the certificate the server presents expires, in Unix seconds',
    registers: [this.registry],
  });

  readonly httpRequests = new Counter({
    name: 'tokenrelay_http_requests_total',
    help: 'HTTP requests answered, by route (a fixed set; "other" for any other path) and status code',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpRequestSeconds = new Histogram({
    name: 'tokenrelay_http_request_duration_seconds',
    help: 'HTTP request duration by route, until the response ended (a stream: its whole life)',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [this.registry],
  });

  /** The configured model names: the only values the `model` label takes besides "published". */
  private knownModels: ReadonlySet<string> = new Set();

  constructor() {
    // Node's standard process and runtime metrics, under their standard names, so stock dashboards find them.
    collectDefaultMetrics({ register: this.registry });
  }

  /** Sets the model names the `model` label may take; any other (a publisher's own) is counted as "published". */
  setModels(names: readonly string[]): void {
    this.knownModels = new Set(names);
  }

  /** A stream's `model` label: its configured model, or "published" for a name a publisher chose. */
  modelLabel(model: string): string {
    return this.knownModels.has(model) ? model : 'published';
  }

  /** Observes the redis store: round trips, pipelines, takeovers, lost producers, reachability. */
  redisObserver(onReady: (up: boolean) => void = () => undefined): RedisStoreObserver {
    return {
      roundTrip: (op, seconds, ok) => {
        if (ok) this.redisRoundTripSeconds.observe({ op }, seconds);
        else this.redisErrors.inc({ op });
      },
      pipeline: (commands) => this.redisPipelineCommands.observe(commands),
      takeover: () => this.redisLeaseTakeovers.inc(),
      producerLost: () => this.redisProducersLost.inc(),
      ready: (up) => {
        this.redisUp.set(up ? 1 : 0);
        onReady(up);
      },
    };
  }

  /**
   * Observes the stream log: active streams, ends by reason, time to first
   * token. An end is observed after the turn (see afterTurn): a short
   * generation ends in the turn that writes its first token, and the labelled
   * observations would otherwise come before that token reaches the wire.
   */
  streamObserver(): StreamObserver {
    return {
      started: () => this.activeStreams.inc(),
      released: () => this.activeStreams.dec(),
      ended: (stream, end) => {
        const model = stream.model;
        const reason = end.reason;
        const ttftSeconds = stream.firstTokenAtMs === undefined ? undefined : (stream.firstTokenAtMs - stream.createdAtMs) / 1000;
        afterTurn(() => this.observeEnd(model, reason, ttftSeconds));
      },
    };
  }

  private observeEnd(streamModel: string, reason: string, ttftSeconds: number | undefined): void {
    this.activeStreams.dec();
    const model = this.modelLabel(streamModel);
    this.streamsEnded.inc({ reason, model });
    if (ttftSeconds !== undefined) this.timeToFirstTokenSeconds.observe({ model }, ttftSeconds);
  }
}
