import { ErrorReply, createClient, createCluster } from '@redis/client';
import type { Logger } from 'pino';
import { fullJitterDelayMs } from '../../../common/backoff';
import { StatusCode, StreamFailure } from '../status';
import type { Script } from './scripts';

/** How to reach Redis. */
export interface RedisLinkOptions {
  /** redis:// or rediss:// URL; with `cluster`, any one node of the cluster. */
  url: string;
  /** Talk to a Redis Cluster (the URL is a seed node). */
  cluster: boolean;
  /** Most ms to connect. */
  connectTimeoutMs: number;
  /** Most ms a command may take before it fails (a frozen Redis must not hang a call). */
  commandTimeoutMs: number;
}

/** What the link reports, for metrics. */
export interface RedisLinkObserver {
  /** One command answered (or failed) after this many seconds. */
  roundTrip(op: string, seconds: number, ok: boolean): void;
  /** The link became usable, or stopped being. */
  readyChanged(ready: boolean): void;
}

type MessageListener = (message: string) => void;

/** The part of node-redis's client and cluster the link uses. */
interface Commands {
  send(key: string | undefined, args: string[]): Promise<unknown>;
  sSubscribe(channel: string, listener: MessageListener): Promise<void>;
  sUnsubscribe(channel: string, listener: MessageListener): Promise<void>;
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  close(): Promise<void>;
  on(event: string, listener: (...args: unknown[]) => void): void;
}

/**
 * A failure to reach Redis as a call sees it: UNAVAILABLE, to retry. The
 * link rejects a command with one when Redis does not answer in time or the
 * connection fails; an error Redis answered (a script's) is passed on as is.
 */
export function storeUnavailable(error: unknown): StreamFailure {
  if (error instanceof StreamFailure && error.details.reason === 'STORE_UNAVAILABLE') return error;
  return new StreamFailure(StatusCode.UNAVAILABLE, `the stream log is unavailable: ${(error as Error)?.message ?? error}`, {
    reason: 'STORE_UNAVAILABLE',
  });
}

/** The URL as it may be logged: without its password. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return '(unparsable)';
  }
}

/**
 * One connection to Redis (or to a cluster, through node-redis, which
 * routes each command by its key's slot), shared by every stream of the
 * process, plus what shard-channel subscriptions need. node-redis writes the
 * commands issued in one event-loop turn to the socket together: the
 * pipeline.
 *
 * Failures are loud and fast: commands are refused at once while
 * disconnected (no offline queue, so a call never waits on a Redis that is
 * gone), each has a timeout, and the link reconnects with full-jitter backoff
 * forever, reporting whether it is ready.
 */
export class RedisLink {
  private readonly main: Commands;
  private readonly subscriber: Commands;
  private readonly deadlines: Deadlines;
  private isUp = false;
  private closing = false;

  constructor(
    private readonly options: RedisLinkOptions,
    private readonly logger: Logger,
    private readonly observer: RedisLinkObserver,
  ) {
    this.deadlines = new Deadlines(options.commandTimeoutMs);
    const socket = {
      connectTimeout: options.connectTimeoutMs,
      reconnectStrategy: (retries: number) => fullJitterDelayMs(retries, { baseMs: 100, capMs: 5000 }) + 50,
    };
    // node-redis's own timeout is off (0; its default is 5 s): it times a command out only until it is written, so
    // a Redis that stops answering (frozen, or a stalled network) would hold every written command forever, and it
    // costs an AbortSignal per command. The link times every command itself (see Deadlines).
    const commandOptions = { timeout: 0 };
    const common = { RESP: 2 as const, disableOfflineQueue: true, commandOptions };
    if (options.cluster) {
      const cluster = createCluster({ rootNodes: [{ url: options.url }], defaults: { ...common, socket }, commandOptions });
      const commands = this.wrap(cluster as unknown as NodeRedis, (key, args) => cluster.sendCommand(key, false, args));
      this.main = commands;
      this.subscriber = commands; // node-redis keeps its own pub/sub connections per cluster node
    } else {
      const client = createClient({ url: options.url, ...common, socket });
      const subscriber = client.duplicate();
      this.main = this.wrap(client as unknown as NodeRedis, (_key, args) => client.sendCommand(args));
      this.subscriber = this.wrap(subscriber as unknown as NodeRedis, (_key, args) => subscriber.sendCommand(args));
    }
    for (const [role, commands] of [
      ['commands', this.main],
      ['subscriptions', this.subscriber],
    ] as const) {
      commands.on('error', (error) => this.onError(role, error));
      commands.on('ready', () => this.update());
      commands.on('end', () => this.update());
      commands.on('reconnecting', () => this.update());
    }
  }

  /** Whether commands can go through now. */
  get ready(): boolean {
    return this.isUp;
  }

  /** Starts connecting, in the background: the process serves (not ready) until Redis answers. */
  connect(): void {
    const where = redactedUrl(this.options.url);
    this.logger.info({ redis: where, cluster: this.options.cluster }, 'connecting to redis');
    const started = [this.main, ...(this.subscriber === this.main ? [] : [this.subscriber])].map((commands) =>
      commands.connect().catch((error: unknown) => this.onError('connect', error)),
    );
    void Promise.all(started).then(() => this.update());
  }

  /** Runs a script (EVALSHA; EVAL when Redis does not have it yet, e.g. after a restart). */
  async run(script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const rest = [String(script.keys), ...keys, ...args.map(String)];
    try {
      return await this.timed(script.name, keys[0], ['EVALSHA', script.sha, ...rest]);
    } catch (error) {
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error;
      return this.timed(script.name, keys[0], ['EVAL', script.source, ...rest]);
    }
  }

  /** Runs one command, routed by `key` on a cluster. */
  command(key: string | undefined, args: readonly (string | number)[]): Promise<unknown> {
    return this.timed(String(args[0]).toLowerCase(), key, args.map(String));
  }

  subscribe(channel: string, listener: MessageListener): Promise<void> {
    return this.subscriber.sSubscribe(channel, listener);
  }

  unsubscribe(channel: string, listener: MessageListener): Promise<void> {
    return this.subscriber.sUnsubscribe(channel, listener);
  }

  async close(): Promise<void> {
    this.closing = true;
    const clients = this.subscriber === this.main ? [this.main] : [this.main, this.subscriber];
    await Promise.all(clients.map((commands) => commands.close().catch(() => undefined)));
    this.update();
  }

  /**
   * Sends one command and settles with its reply, its error, or a timeout
   * after commandTimeoutMs. A command that timed out may still run when
   * Redis answers again; every write is fenced, so a late one cannot corrupt
   * a stream, and its reply is dropped.
   */
  private timed(op: string, key: string | undefined, args: string[]): Promise<unknown> {
    const startedMs = performance.now();
    return new Promise((resolve, reject) => {
      const pending = this.deadlines.add(startedMs, () => {
        this.observer.roundTrip(op, (performance.now() - startedMs) / 1000, false);
        reject(storeUnavailable(new Error(`redis did not answer ${op} within ${this.options.commandTimeoutMs} ms`)));
      });
      this.main.send(key, args).then(
        (reply) => {
          if (!this.deadlines.settle(pending)) return;
          this.observer.roundTrip(op, (performance.now() - startedMs) / 1000, true);
          resolve(reply);
        },
        (error: unknown) => {
          if (!this.deadlines.settle(pending)) return;
          this.observer.roundTrip(op, (performance.now() - startedMs) / 1000, false);
          reject(error instanceof ErrorReply ? error : storeUnavailable(this.redacted(error)));
        },
      );
    });
  }

  private update(): void {
    const up = !this.closing && this.main.isReady && this.subscriber.isReady;
    if (up === this.isUp) return;
    this.isUp = up;
    this.observer.readyChanged(up);
    if (up) this.logger.info({ redis: redactedUrl(this.options.url) }, 'redis connected');
    else if (!this.closing)
      this.logger.warn(
        { redis: redactedUrl(this.options.url) },
        'redis unreachable: streams on the redis store fail with UNAVAILABLE until it is back',
      );
  }

  private lastErrorLogMs = 0;

  /** An error whose message may name the URL, without its password. */
  private redacted(error: unknown): Error {
    const message = String((error as Error)?.message ?? error);
    return new Error(message.replaceAll(this.options.url, redactedUrl(this.options.url)));
  }

  /** Connection errors repeat at every reconnect attempt: logged at most every 5 s, never with credentials. */
  private onError(role: string, error: unknown): void {
    this.update();
    const now = Date.now();
    if (this.closing || now - this.lastErrorLogMs < 5000) return;
    this.lastErrorLogMs = now;
    const { message } = this.redacted(error);
    this.logger.warn({ redis: redactedUrl(this.options.url), role, error: message }, 'redis connection failed; retrying with backoff');
  }

  /** node-redis's client and cluster behind one shape; only sending differs (a cluster routes by key). */
  private wrap(redis: NodeRedis, send: Commands['send']): Commands {
    return {
      send,
      sSubscribe: (channel, listener) => redis.sSubscribe(channel, listener),
      sUnsubscribe: (channel, listener) => redis.sUnsubscribe(channel, listener),
      get isReady() {
        return redis.isReady;
      },
      connect: () => redis.connect(),
      close: () => redis.close(),
      on: (event, listener) => void redis.on(event, listener),
    };
  }
}

/** The members of node-redis's client and cluster used here (their generic types do not unify). */
interface NodeRedis {
  sSubscribe(channel: string, listener: MessageListener): Promise<void>;
  sUnsubscribe(channel: string, listener: MessageListener): Promise<void>;
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  close(): Promise<void>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** A command waiting for its reply, and what to do if none comes in time. */
interface Pending {
  readonly dueMs: number;
  /** Cleared once the command settles, one way or the other. */
  expire: (() => void) | undefined;
}

/**
 * The deadlines of the commands in flight. Every command has the same
 * timeout, so they fall due in the order they were sent: one timer, for the
 * oldest command still waiting, serves them all (an AbortSignal and a timer
 * per command, as node-redis's own timeout has, cost about 15 µs each).
 * Replies mostly come in order, so settled commands leave from the front at
 * once and the queue stays as short as the commands in flight.
 */
class Deadlines {
  private queue: Pending[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly timeoutMs: number) {}

  add(startedMs: number, expire: () => void): Pending {
    const pending: Pending = { dueMs: startedMs + this.timeoutMs, expire };
    this.queue.push(pending);
    if (!this.timer) this.arm(this.timeoutMs);
    return pending;
  }

  /** The command answered: false if it had already timed out (its answer is then dropped). */
  settle(pending: Pending): boolean {
    if (!pending.expire) return false;
    pending.expire = undefined;
    this.dropSettled();
    return true;
  }

  private dropSettled(): void {
    while (this.head < this.queue.length && !this.queue[this.head].expire) this.head++;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(() => this.expireDue(), Math.max(1, Math.ceil(delayMs)));
    this.timer.unref();
  }

  private expireDue(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.head < this.queue.length) {
      const oldest = this.queue[this.head];
      if (oldest.expire && oldest.dueMs > now) break;
      const expire = oldest.expire;
      oldest.expire = undefined;
      this.head++;
      expire?.();
    }
    this.dropSettled();
    if (this.head < this.queue.length) this.arm(this.queue[this.head].dueMs - now);
  }
}
