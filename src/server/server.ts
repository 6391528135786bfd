import { setMaxListeners } from 'node:events';
import type http from 'node:http';
import type net from 'node:net';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { createHttpApi } from '../http/api';
import { serverInterceptors } from '../grpc/interceptors';
import { ModelCatalog } from '../core/models/catalog';
import { createDataService, type ServiceContext } from '../grpc';
import { DataServiceDefinition } from '../grpc/definition';
import { MemoryStore } from '../core/streams/memoryStore';
import { RedisStore } from '../core/streams/redis/store';
import type { StreamRegistry } from '../core/streams/registry';
import { StatusCode, StreamFailure } from '../core/streams/status';
import type { StreamStore } from '../core/streams/store';
import type { Config } from '../core/config';
import { httpPort, startHttpSide } from './httpServer';
import { Metrics } from './metrics';
import { Telemetry } from './telemetry';
import { VERSION } from './version';
import { LiveStreams } from '../core/liveStreams';
import { ResponseCache } from '../core/cache';
import { PrincipalLimiter } from '../core/principalLimits';
import { Principals } from '../core/principals';
import { addReflection } from './reflection';
import { TlsCertificates, type TlsMaterial } from './tls';

export const SERVICE_NAME = 'tokenrelay.v1.DataService';

/** RST_STREAM frames a connection may send in a burst, and per second after it. */
export const STREAM_RESET_BURST = 10_000;
export const STREAM_RESET_RATE_PER_SECOND = 1_000;

/**
 * Node's HTTP/2 rapid-reset protection (nghttp2's stream reset rate limit,
 * 1000 then 33/s by default) tears down a whole connection when a client
 * cancels many streams at once, which is exactly what a burst of Stop buttons
 * behind one gateway connection looks like. grpc-js has no option for it, so
 * the limit is raised on the options grpc-js hands to http2.createServer;
 * it stays a limit (far above real stop-button rates, far below a flood).
 * Node 20 ignores these options (they arrived in Node 22); there the SDK's
 * Cancel-instead-of-reset is what keeps storms off the wire.
 */
function allowStopButtonStorms(server: Server): void {
  const options = (server as unknown as { commonServerOptions?: Record<string, unknown> }).commonServerOptions;
  if (!options) throw new Error('grpc-js no longer has Server.commonServerOptions: revisit allowStopButtonStorms');
  options.streamResetBurst = STREAM_RESET_BURST;
  options.streamResetRate = STREAM_RESET_RATE_PER_SECOND;
}

/**
 * limits.maxConnections on the gRPC port: grpc-js has no option for it, so
 * it is set on the net servers grpc-js listens with (Node closes a
 * connection past `maxConnections` at once and emits 'drop'), reached, like
 * the options above, through a grpc-js internal that is checked to exist.
 */
function capConnections(server: Server, max: number, onDrop: () => void): void {
  const servers = (server as unknown as { http2Servers?: Map<net.Server, unknown> }).http2Servers;
  if (!servers) throw new Error('grpc-js no longer has Server.http2Servers: revisit capConnections');
  for (const listener of servers.keys()) {
    if (listener.listenerCount('drop') > 0) continue;
    listener.maxConnections = max;
    listener.on('drop', onDrop);
  }
}

/**
 * A port that could not be bound: which one, where, and the system's code
 * (EADDRINUSE, EADDRNOTAVAIL, EACCES, ...), so the CLI can say which flag to
 * change.
 */
export class ListenError extends Error {
  readonly code: string | undefined;

  constructor(
    readonly port: 'grpc' | 'http',
    readonly host: string,
    readonly portNumber: number,
    cause: unknown,
  ) {
    const text = cause instanceof Error ? cause.message : String(cause);
    super(`cannot listen on ${host}:${portNumber} (${port}): ${text}`, { cause });
    this.name = 'ListenError';
    this.code =
      (cause as NodeJS.ErrnoException)?.code ??
      /\b(E[A-Z]{3,})\b/.exec(text)?.[1] ??
      (/Name resolution failed/i.test(text) ? 'ENOTFOUND' : undefined);
  }
}

export interface ServeOptions {
  config: Config;
  logger: Logger;
  /** Interface to bind both ports to. Default 0.0.0.0. */
  host?: string;
  /** gRPC port; 0 picks a free one. Default 50051. */
  grpcPort?: number;
  /** HTTP side port (health, readiness, metrics, the page and /v1/*); 0 picks a free one; null disables it. Default 8080. */
  httpPort?: number | null;
  /** Where streams live. Default: a memory store sized by the config. */
  store?: StreamStore;
  /** The config file the config came from, for the startup line; none: the embedded default. */
  configFile?: string;
}

/** A running tokenrelay: the gRPC server, the HTTP side port, and what they share. */
export class TokenRelayServer {
  readonly metrics = new Metrics();
  readonly store: StreamStore;
  readonly models: ModelCatalog;
  grpcPort = 0;
  httpPort: number | undefined;

  private readonly grpc: Server;
  /** What the gRPC handlers and the HTTP edge share. */
  private readonly context: ServiceContext;
  private readonly principals: Principals;
  /** Both ports' certificates, when TLS is configured. */
  private readonly tls: TlsCertificates | undefined;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  private http: http.Server | undefined;
  private ready = false;
  private draining = false;
  private readonly drainingController = new AbortController();
  private stopped: Promise<void> | undefined;
  private grpcClosed: Promise<void> | undefined;
  /** Traces (OpenTelemetry), or none. */
  readonly telemetry: Telemetry;

  private constructor(private readonly options: ServeOptions) {
    // Every resumable follower on a shared store listens here (core/draining.ts), each until its stream ends:
    // thousands at once are normal, and Node's default of 10 would warn of a leak on every busy replica.
    setMaxListeners(0, this.drainingController.signal);
    const { config, logger } = options;
    this.store = options.store ?? this.createStore();
    this.metrics.setModels(config.models.map((model) => model.name));
    this.store.observe(this.metrics.streamObserver());
    if (this.store instanceof MemoryStore) {
      const { registry } = this.store;
      this.metrics.retainedBytes.set(0);
      this.metrics.retainedBytesOf = () => registry.retainedBytes;
    }
    this.models = new ModelCatalog(config.models, config.defaultModel);
    const principalLimiter = new PrincipalLimiter(config.limits.perPrincipal, (principal, limit) =>
      this.metrics.principalRefused.inc({ principal, limit }),
    );
    this.store.observe(principalLimiter);
    this.telemetry = Telemetry.start(config.telemetry, VERSION, (outcome, spans) => this.metrics.spans.inc({ outcome }, spans));
    this.store.observe(this.telemetry.tracing);
    const cache = new ResponseCache(config.cache, this.store, (result) => this.metrics.cacheLookups.inc({ result }));
    this.store.observe(cache);
    const live = new LiveStreams(this.store);
    this.store.observe(live);
    this.context = {
      config,
      logger,
      store: this.store,
      models: this.models,
      draining: this.drainingController.signal,
      principalLimiter,
      tracing: this.telemetry.tracing,
      cache,
      live,
    };
    this.principals = Principals.fromConfig(config.auth);
    this.tls = config.tls && new TlsCertificates(config.tls);
    if (this.tls) this.certificateInUse(this.tls.current);
    this.grpc = new Server({
      interceptors: serverInterceptors({
        config,
        logger,
        metrics: this.metrics,
        isDraining: () => this.draining,
        principals: this.principals,
        tracing: this.telemetry.tracing,
      }),
      'grpc.max_receive_message_length': config.limits.maxMessageBytes,
      // Ping each client (default: every minute) and drop it if a ping goes
      // unanswered (default: 20 s), so a dead peer's streams are cancelled.
      // Clients may ping as often as they like: grpc-js servers enforce no
      // ping policy.
      'grpc.keepalive_time_ms': config.keepalive.timeMs,
      'grpc.keepalive_timeout_ms': config.keepalive.timeoutMs,
      // One connection may not hold more calls than this; the rest of the capacity stays for others.
      'grpc.max_concurrent_streams': config.limits.maxStreamsPerConnection,
    });
    allowStopButtonStorms(this.grpc);
    this.grpc.addService(DataServiceDefinition, createDataService(this.context));
    this.health.addToServer(this.grpc);
    addReflection(this.grpc);
  }

  /** The store the config names: memory, or redis (connecting in the background; not ready until Redis answers). */
  private createStore(): StreamStore {
    const { config, logger } = this.options;
    const streams = {
      maxActiveStreams: config.limits.maxConcurrentStreams,
      retentionMs: config.streams.retentionMs,
      maxRetainedStreams: config.streams.maxRetainedStreams,
      maxRetainedBytes: config.streams.maxRetainedBytes,
      windowTokens: config.streams.windowTokens,
      resumeGraceMs: config.streams.resumeGraceMs,
    };
    if (config.streams.store === 'memory') return new MemoryStore(streams);
    const store = new RedisStore(
      { ...config.redis, ...streams },
      logger,
      this.metrics.redisObserver(() => this.updateHealth()),
    );
    store.start();
    return store;
  }

  /** Health and readiness: serving once both ports are up and the store is reachable; not while draining. */
  private updateHealth(): void {
    const status = this.ready && this.store.ready ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', status);
    this.health.setStatus(SERVICE_NAME, status);
  }

  /** The memory store's streams, for tests and embedders that inspect them; throws on another store. */
  get registry(): StreamRegistry {
    if (!(this.store instanceof MemoryStore)) throw new Error(`the ${this.store.kind} store has no in-process registry`);
    return this.store.registry;
  }

  /** Binds both ports and starts serving; health goes SERVING once both are up. */
  static async start(options: ServeOptions): Promise<TokenRelayServer> {
    const server = new TokenRelayServer(options);
    await server.listen();
    return server;
  }

  private async listen(): Promise<void> {
    const host = this.options.host ?? '0.0.0.0';
    const address = host.includes(':') ? `[${host}]` : host;
    const wantedGrpcPort = this.options.grpcPort ?? 50051;
    this.grpcPort = await new Promise<number>((resolve, reject) => {
      this.grpc.bindAsync(
        `${address}:${wantedGrpcPort}`,
        this.tls?.serverCredentials() ?? ServerCredentials.createInsecure(),
        (error, port) => (error ? reject(new ListenError('grpc', host, wantedGrpcPort, error)) : resolve(port)),
      );
    });
    const { limits } = this.options.config;
    capConnections(this.grpc, limits.maxConnections, () => this.metrics.connectionsRefused.inc({ port: 'grpc' }));
    const wantedHttpPort = this.options.httpPort === undefined ? 8080 : this.options.httpPort;
    if (wantedHttpPort !== null) {
      try {
        this.http = await startHttpSide({
          host,
          port: wantedHttpPort,
          metrics: this.metrics,
          logger: this.options.logger,
          tls: this.tls,
          metricsAuth:
            this.options.config.auth.protectMetrics && this.principals.enabled
              ? (header) => this.principals.byBearer(header) !== undefined
              : undefined,
          isReady: () => this.ready && this.store.ready,
          api: createHttpApi({
            context: { ...this.context, metrics: this.metrics },
            principals: this.principals,
            certificates: this.options.config.tls?.requireClientCert,
            isDraining: () => this.draining,
          }),
        });
      } catch (error) {
        // The gRPC port is already bound: let it go, so a caller that catches this can bind again.
        this.grpc.forceShutdown();
        throw new ListenError('http', host, wantedHttpPort, error);
      }
      this.httpPort = httpPort(this.http);
      this.http.maxConnections = limits.maxConnections;
      this.http.on('drop', () => this.metrics.connectionsRefused.inc({ port: 'http' }));
    }
    this.ready = true;
    this.updateHealth();
    this.options.logger.info(
      {
        grpcPort: this.grpcPort,
        httpPort: this.httpPort,
        host,
        models: this.models.list().map((model) => model.description.name),
        defaultModel: this.models.defaultModel,
        config: this.options.configFile ?? 'none (the embedded default)',
        auth: this.principals.enabled ? { principals: this.principals.names } : 'off',
        store: this.store.kind,
        ...(this.store.kind === 'redis' ? { redis: withoutPassword(this.options.config.redis.url) } : {}),
        traces: this.options.config.telemetry.otlpEndpoint ? withoutPassword(this.options.config.telemetry.otlpEndpoint) : 'off',
        tls: this.tls
          ? {
              subject: this.tls.current.subject,
              notAfter: this.tls.current.notAfter.toISOString(),
              clientCerts:
                this.tls.config.clientCaFile === undefined ? 'not asked' : this.tls.config.requireClientCert ? 'required' : 'optional',
            }
          : 'off',
      },
      'tokenrelay serving',
    );
    this.options.logger.flush();
  }

  /**
   * Re-reads the certificate, key and client CA files (on SIGHUP). Open
   * connections and their streams go on with the old ones; new connections
   * get the new. Unusable files are logged and the old certificates kept.
   * True if the new ones are in use.
   */
  reloadTls(): boolean {
    const { logger } = this.options;
    if (!this.tls) {
      logger.info('SIGHUP: no TLS configured, nothing to reload');
      return false;
    }
    try {
      const material = this.tls.reload();
      this.metrics.tlsReloads.inc({ result: 'ok' });
      this.certificateInUse(material);
      logger.info({ subject: material.subject, notAfter: material.notAfter.toISOString() }, 'tls certificates reloaded');
      return true;
    } catch (error) {
      this.metrics.tlsReloads.inc({ result: 'error' });
      logger.error({ reason: (error as Error).message }, 'tls reload failed; the previous certificates stay in use');
      return false;
    }
  }

  /** The expiry gauge, and a warning when the certificate presented has expired (clients will refuse it). */
  private certificateInUse(material: TlsMaterial): void {
    this.metrics.tlsCertificateNotAfter.set(Math.floor(material.notAfter.getTime() / 1000));
    if (material.notAfter.getTime() <= Date.now()) {
      this.options.logger.warn({ subject: material.subject, notAfter: material.notAfter.toISOString() }, 'the certificate has expired');
    }
  }

  /** Stops taking connections and sends GOAWAY on every one (calls in flight go on); resolves once they have all closed. */
  private goAway(): Promise<void> {
    this.grpcClosed ??= new Promise<void>((resolve) => this.grpc.tryShutdown(() => resolve()));
    return this.grpcClosed;
  }

  /**
   * Graceful shutdown: health NOT_SERVING and /readyz 503 at once, new calls
   * UNAVAILABLE, streams in flight may finish within shutdownGraceMs, the
   * rest end with UNAVAILABLE, then both ports close. Idempotent.
   */
  shutdown(): Promise<void> {
    this.stopped ??= this.drainAndStop();
    return this.stopped;
  }

  private async drainAndStop(): Promise<void> {
    const { logger, config } = this.options;
    this.draining = true;
    this.ready = false;
    this.drainingController.abort();
    this.updateHealth();
    // On a shared store the streams outlive this process: GOAWAY now, so every
    // client takes its next call (a resume included) to another replica, while
    // this one goes on producing what it started.
    if (this.store.shared) void this.goAway();
    logger.info({ activeStreams: this.store.activeCount, graceMs: config.shutdownGraceMs, store: this.store.kind }, 'draining');
    logger.flush();
    const deadline = Date.now() + config.shutdownGraceMs;
    while (this.store.activeCount > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const unfinished = this.store.activeCount;
    this.store.failAll(new StreamFailure(StatusCode.UNAVAILABLE, 'the server is shutting down', { reason: 'SERVER_DRAINING' }));
    // Let the handlers write the statuses of the streams just ended, then close.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.grpc.forceShutdown();
        resolve();
      }, 1000);
      void this.goAway().then(() => {
        clearTimeout(force);
        resolve();
      });
    });
    if (this.http) {
      this.http.closeAllConnections();
      await new Promise<void>((resolve) => this.http?.close(() => resolve()));
    }
    await this.store.close();
    await this.telemetry.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'traces not flushed at shutdown'));
    logger.info({ endedWithUnavailable: unfinished }, 'tokenrelay stopped');
    logger.flush();
  }
}

/** A URL as it may be logged: any password (and user) replaced by `***`. */
function withoutPassword(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password || url.username) {
      url.username = url.username ? '***' : '';
      url.password = url.password ? '***' : '';
    }
    return url.toString();
  } catch {
    return '(not a URL)';
  }
}
