import path from 'node:path';
import type { RunOptions, ScenarioId } from './options';
import { type BenchRedis, startRedis } from './redisServer';
import { type OtlpSink, startOtlpSink } from './otlpSink';
import { type RelayOverrides, relayConfig } from './relayConfig';
import { type ServerChild, startBaseline, startRelay, waitForLogLines } from './servers';
import type { Summary } from './stats';
import { ratioSummary, summarize } from './stats';
import type { LoadWorker, WorkerPool } from './workers';

/** One figure of the table: a measurement repeated, and its ratio to baselines measured in the same run. */
export interface Row {
  scenario: ScenarioId;
  label: string;
  unit: string;
  summary: Summary;
  /** Per-repetition ratio of this figure to a baseline's figure in the same repetition. */
  ratios?: Array<{ vs: string; summary: Summary }>;
  /** Anything else worth keeping in the JSON (sizes, tokens per message, ...). */
  detail?: Record<string, unknown>;
}

/** One of the performance targets and whether this run met it. */
export interface Check {
  scenario: ScenarioId;
  target: string;
  /** null: not judged (a --quick size smaller than the target's). */
  met: boolean | null;
  measured: string;
}

/** What a scenario gets: sizes for this run, servers and load workers it can start, and where its figures go. */
export class ScenarioContext {
  readonly rows: Row[] = [];
  readonly checks: Check[] = [];
  private readonly servers: ServerChild[] = [];
  private serverCount = 0;
  private redisServer: Promise<BenchRedis> | undefined;
  private otlpSink: Promise<OtlpSink> | undefined;

  constructor(
    readonly id: ScenarioId,
    readonly options: RunOptions,
    /** Where this run's logs, configs and outputs go. */
    readonly runDir: string,
    private readonly stamp: string,
    private readonly pool: WorkerPool,
  ) {}

  get quick(): boolean {
    return this.options.quick;
  }

  reps(full: number, quick: number): number {
    return this.options.reps ?? (this.quick ? quick : full);
  }

  size<T>(full: T, quick: T): T {
    return this.quick ? quick : full;
  }

  log(message: string): void {
    process.stderr.write(`  (${this.id}) ${message}\n`);
  }

  private startOptions(name: string) {
    const label = `${this.id}-${name}-${++this.serverCount}`;
    return {
      logFile: path.join(this.runDir, `${label}.log`),
      profileName: this.options.cpuProf ? `${this.stamp}-${label}` : undefined,
    };
  }

  /** Starts a tokenrelay server with the bench config (see relayConfig.ts). */
  async relay(overrides: RelayOverrides = {}, extraArgs: string[] = []): Promise<ServerChild> {
    const options = this.startOptions('relay');
    const server = await startRelay(relayConfig(overrides), options.logFile.replace(/\.log$/, '.config.json'), options, extraArgs);
    this.servers.push(server);
    return server;
  }

  /**
   * A tokenrelay on the redis store, against the scenario's own
   * redis-server (started on first use, killed at the scenario's end), under
   * a key prefix of its own; `workers` > 1 runs serve --workers.
   */
  /**
   * A tokenrelay with tracing on: every call and generation a span,
   * exported by OTLP/HTTP (the SDK's default batching) to a collector in
   * the bench process that reads and discards them.
   */
  async tracedRelay(overrides: RelayOverrides = {}): Promise<ServerChild> {
    this.otlpSink ??= startOtlpSink();
    const sink = await this.otlpSink;
    return this.relay({ ...overrides, telemetry: { otlpEndpoint: sink.url } });
  }

  /** What the traced relays exported so far: OTLP requests and bytes. */
  async exported(): Promise<{ requests: number; bytes: number }> {
    const sink = await this.otlpSink;
    return { requests: sink?.requests ?? 0, bytes: sink?.bytes ?? 0 };
  }

  async redisRelay(workers = 1, overrides: RelayOverrides = {}): Promise<ServerChild> {
    this.redisServer ??= startRedis();
    const { url } = await this.redisServer;
    const redis = { url, keyPrefix: `bench${this.serverCount + 1}` };
    const logFile = path.join(this.runDir, `${this.id}-relay-${this.serverCount + 1}.log`);
    const server = await this.relay(
      { ...overrides, streams: { ...overrides.streams, store: 'redis' }, redis },
      workers > 1 ? ['--workers', String(workers)] : [],
    );
    // Measured only once every worker serves and has reached Redis.
    await waitForLogLines(logFile, '"tokenrelay serving"', workers);
    await waitForLogLines(logFile, '"redis connected"', workers);
    return server;
  }

  async baseline(kind: 'grpc' | 'sse' | 'http2'): Promise<ServerChild> {
    const server = await startBaseline(kind, this.startOptions(kind));
    this.servers.push(server);
    return server;
  }

  /** The run's load worker for a role: 'client', 'producer' or 'consumer' (see WorkerPool). */
  worker(role: 'client' | 'producer' | 'consumer'): LoadWorker {
    return this.pool.get(role);
  }

  /** Stops a server early (a scenario that wants a fresh one per repetition). */
  async stop(server: ServerChild): Promise<void> {
    await server.stop();
    this.servers.splice(this.servers.indexOf(server), 1);
  }

  row(label: string, unit: string, samples: number[], detail?: Record<string, unknown>): Row {
    const row: Row = { scenario: this.id, label, unit, summary: summarize(samples), detail };
    this.rows.push(row);
    return row;
  }

  /** Adds the per-repetition ratio of row to a baseline row (same repetition order). */
  ratio(row: Row, vs: Row, name: string): Summary {
    const summary = ratioSummary(row.summary.samples, vs.summary.samples);
    row.ratios ??= [];
    row.ratios.push({ vs: name, summary });
    return summary;
  }

  check(target: string, met: boolean | null, measured: string): void {
    this.checks.push({ scenario: this.id, target, met, measured });
  }

  /** Stops the scenario's servers; the load workers close their connections (or are replaced after a failure). */
  async cleanup(failed: boolean): Promise<void> {
    if (failed) this.pool.close();
    else await this.pool.reset().catch(() => this.pool.close());
    await Promise.all(this.servers.splice(0).map((server) => server.stop()));
    const redis = this.redisServer;
    this.redisServer = undefined;
    await redis?.then((server) => server.stop()).catch(() => undefined);
    const sink = this.otlpSink;
    this.otlpSink = undefined;
    await sink?.then((server) => server.stop()).catch(() => undefined);
  }
}
