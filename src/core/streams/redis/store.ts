import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { StatusCode, StreamFailure, alreadyExists, notFound } from '../status';
import {
  type CreateStreamOptions,
  type SharedCache,
  type StreamObserver,
  type StreamReader,
  type StreamStore,
  type StreamView,
  type StreamWriter,
  fingerprintValue,
} from '../store';
import { type StreamEnd, pastTheEnd } from '../tokenStream';
import { type CorruptEntry, type FailureFields, storedFailure } from './codec';
import { cacheKey, retainedBytesKey, retainedKey, type StreamKeys, streamKeys } from './keys';
import { RedisLink, type RedisLinkOptions } from './link';
import { parseMeta, type StreamMeta } from './meta';
import { type MirrorHost, RedisMirror } from './mirror';
import { Rota } from './rota';
import { CREATE, FORGET, INSPECT, OTHER_READERS, PRESENCE, RETIRE, STOP, TAKEOVER } from './scripts';
import { RedisWriter, type WriterHost } from './writer';

/**
 * About how often the store's ticker runs: each run renews one slice of the
 * leases and refreshes one slice of the presence, so a third of a lease
 * (3.3 s by default) is some 67 slices, and 1,000 streams send some 15
 * renewals a tick rather than 1,000 scripts at once.
 */
const TICK_MS = 50;

export interface RedisStoreOptions extends RedisLinkOptions {
  /** Prefix of every key, so several deployments can share one Redis. */
  keyPrefix: string;
  /** How long a producer's lease lasts without renewal, in ms; a dead producer is noticed within this plus one renewal (a third of it). */
  leaseMs: number;
  /** Most streams this process produces at once; one more is RESOURCE_EXHAUSTED. */
  maxActiveStreams: number;
  /** How long a finished stream stays readable, in ms (Redis expiry). */
  retentionMs: number;
  /** Most finished streams kept, over every replica; the oldest finished go first. */
  maxRetainedStreams: number;
  /** Most token text bytes over the finished streams kept, over every replica; the oldest finished go first. */
  maxRetainedBytes: number;
  /** Backpressure window per stream, in tokens. */
  windowTokens: number;
  /** How long an abandoned resumable stream keeps producing, and a resumable publisher may take to come back, in ms. */
  resumeGraceMs: number;
}

/** What the store reports, for metrics. */
export interface RedisStoreObserver {
  roundTrip(op: string, seconds: number, ok: boolean): void;
  /** Commands written together in one event-loop turn. */
  pipeline(commands: number): void;
  /** A resumable published stream's producer moved here from another replica. */
  takeover(): void;
  /** This replica ended a stream whose producer (elsewhere, or here) lost its lease. */
  producerLost(): void;
  ready(up: boolean): void;
}

/**
 * Streams in Redis, shared by every replica: each stream a Redis Stream of
 * token runs plus a meta hash, under one hash tag (so it runs unchanged on
 * Redis Cluster). A replica that produces a stream holds a lease on it and
 * renews it; every write is fenced by that lease in a Lua script. Readers on
 * any replica read the log, never a token Redis does not have. Cancels,
 * takeovers and readers coming and going travel on the stream's shard
 * channel. Retention is Redis expiry, plus a count bound kept in one sorted
 * set.
 */
export class RedisStore implements StreamStore, MirrorHost, WriterHost {
  readonly kind = 'redis';
  readonly shared = true;
  readonly link: RedisLink;
  readonly logger: Logger;
  readonly windowTokens: number;
  readonly maxUnstoredTokens: number;
  readonly leaseMs: number;
  readonly retentionMs: number;
  readonly resumeGraceMs: number;
  /** Renewals, presence refreshes and polls for lost producers come this often. */
  readonly pollMs: number;
  /** Identifies this process among the replicas (its readers' presence). */
  readonly replicaId = randomUUID();

  private readonly writers = new Map<string, RedisWriter>();
  private readonly mirrors = new Map<string, RedisMirror>();
  /** The writers, in the slices their leases are renewed in. */
  private readonly renewals: Rota<RedisWriter>;
  /** Streams this replica has announced readers of, in the slices their presence is refreshed in. */
  private readonly present: Rota<string>;
  private readonly channels = new Map<string, Set<(message: string) => void>>();
  private readonly observers: StreamObserver[] = [];
  private readonly dirty = new Set<RedisWriter>();
  private flushScheduled = false;
  private readonly ticker: NodeJS.Timeout;

  constructor(
    private readonly options: RedisStoreOptions,
    logger: Logger,
    private readonly observer: RedisStoreObserver,
  ) {
    this.logger = logger;
    this.windowTokens = options.windowTokens;
    this.maxUnstoredTokens = Math.max(4 * options.windowTokens, 4096);
    this.leaseMs = options.leaseMs;
    this.retentionMs = options.retentionMs;
    this.resumeGraceMs = options.resumeGraceMs;
    this.pollMs = Math.max(1, Math.floor(options.leaseMs / 3));
    const slices = Math.max(1, Math.round(this.pollMs / TICK_MS));
    this.renewals = new Rota(slices);
    this.present = new Rota(slices);
    this.link = new RedisLink(options, logger, { roundTrip: observer.roundTrip, readyChanged: observer.ready });
    // Each tick visits one slice of each rota, so every lease is renewed once a pollMs.
    this.ticker = setInterval(() => this.tick(), this.pollMs / slices);
    this.ticker.unref();
  }

  /** Connects in the background; the store is not ready until Redis answers. */
  start(): void {
    this.link.connect();
  }

  get ready(): boolean {
    return this.link.ready;
  }

  get activeCount(): number {
    return this.writers.size;
  }

  /** The response cache's entries, in Redis beside the streams, so every replica answers from them. */
  readonly sharedCache: SharedCache = {
    cached: async (key) => {
      const where = cacheKey(this.options.keyPrefix, key);
      const value = await this.link.command(where, ['GET', where]);
      return typeof value === 'string' ? value : undefined;
    },
    cache: async (key, streamId, ttlMs) => {
      const where = cacheKey(this.options.keyPrefix, key);
      await this.link.command(where, ['SET', where, streamId, 'PX', ttlMs]);
    },
  };

  async create(options: CreateStreamOptions): Promise<StreamWriter> {
    this.checkReachable();
    if (this.writers.size >= this.options.maxActiveStreams) {
      throw new StreamFailure(StatusCode.RESOURCE_EXHAUSTED, `too many live streams: the limit is ${this.options.maxActiveStreams}`, {
        reason: 'TOO_MANY_STREAMS',
      });
    }
    const id = options.id || randomUUID();
    const keys = streamKeys(this.options.keyPrefix, id);
    const token = randomUUID();
    const meta: StreamMeta = {
      id,
      live: true,
      model: options.model,
      // Written with the CREATE, so computed now.
      fingerprint: fingerprintValue(options.fingerprint),
      owner: options.owner,
      abandonPolicy: options.abandonPolicy,
      publishedResumable: options.publishedResumable ?? false,
      // A generation's prompt is counted at its end, off the first token (see CreateStreamOptions.countPromptTokens).
      promptTokens: options.promptTokens ?? 0,
      nextSeq: 0,
      textBytes: 0,
      end: undefined,
      incarnation: randomUUID(),
    };
    const sendCreate = () =>
      this.link.run(
        CREATE,
        [keys.meta, keys.log, keys.readers],
        [
          token,
          this.leaseMs,
          this.retentionMs,
          options.replaceFinished ? '1' : '0',
          meta.model,
          meta.fingerprint ?? '',
          meta.abandonPolicy,
          meta.publishedResumable ? '1' : '0',
          meta.promptTokens,
          meta.incarnation,
          lostTemplate(id),
          keys.channel,
          this.resumeGraceMs,
          meta.owner ?? '',
        ],
      );
    const writerOptions = { keys, meta, token, countPromptTokens: options.countPromptTokens };
    if (!options.id) {
      // A fresh id is nobody's, so only Redis failing can refuse it: the writer starts now, and its first write
      // follows the CREATE on the same connection (the same node on a cluster: one hash tag), so the first token
      // costs one round trip to Redis instead of two. A CREATE that fails ends the stream as a failed write does.
      const writer = this.adopt(new RedisWriter(this, writerOptions));
      // The flush goes in before the CREATE does: node-redis writes in a setImmediate of its own, and a flush
      // scheduled after it would send this turn's first appends one loop iteration later, in a write of their own.
      this.schedule(writer);
      writer.confirm(sendCreate());
      return writer;
    }
    const reply = (await sendCreate()) as string[];
    if (reply[0] === 'live') throw alreadyExists(id, 'live');
    if (reply[0] === 'exists') throw alreadyExists(id, 'finished');
    return this.adopt(new RedisWriter(this, writerOptions));
  }

  async find(id: string): Promise<StreamView | undefined> {
    const writer = this.writers.get(id);
    if (writer && !writer.end) return writer.view;
    this.checkReachable();
    const meta = await this.inspect(id);
    return meta && this.viewOf(meta);
  }

  async stop(id: string, failure: StreamFailure): Promise<boolean> {
    const writer = this.writers.get(id);
    if (writer && !writer.end) return writer.fail(failure);
    this.checkReachable();
    const keys = streamKeys(this.options.keyPrefix, id);
    const reply = (await this.link.run(
      STOP,
      [keys.meta, keys.log],
      [failureTemplate(failure), keys.channel, this.retentionMs, 'stop', this.resumeGraceMs],
    )) as string[];
    if (reply[0] === 'gone') throw notFound(id);
    if (reply[0] !== 'ok') return false;
    this.retire(id, reply[1], Number(reply[2]) || 0);
    return true;
  }

  async reopen(id: string): Promise<StreamWriter | undefined> {
    const here = this.writers.get(id);
    if (here) {
      if (here.reattach()) return here;
      if (here.isAttached && !here.end) {
        throw alreadyExists(id, 'producing', 'open.stream_id');
      }
      return undefined;
    }
    this.checkReachable();
    const meta = await this.inspect(id);
    if (!meta?.live || !meta.publishedResumable) return undefined;
    const keys = streamKeys(this.options.keyPrefix, id);
    const token = randomUUID();
    const reply = (await this.link.run(
      TAKEOVER,
      [keys.meta, keys.log],
      [token, this.leaseMs, this.retentionMs, this.resumeGraceMs, keys.channel, lostTemplate(id)],
    )) as unknown[];
    if (reply[0] === 'attached') {
      throw new StreamFailure(
        StatusCode.UNAVAILABLE,
        `open.stream_id: stream ${JSON.stringify(id)} has a producer attached on another replica (its lease runs ${reply[1]} ms more); retry after it`,
      );
    }
    if (reply[0] === 'lost') this.observer.producerLost();
    if (reply[0] !== 'ok') return undefined;
    this.observer.takeover();
    this.logger.info({ streamId: id, nextSeq: Number(reply[1]) }, 'took over a published stream from another replica');
    const stored = { nextSeq: Number(reply[1]), textBytes: Number(reply[2]) || 0 };
    return this.adopt(new RedisWriter(this, { keys, meta: { ...meta, ...stored }, token }));
  }

  failAll(failure: StreamFailure): void {
    for (const writer of [...this.writers.values()]) writer.fail(failure);
  }

  liveStreams(): Array<{ writer: StreamWriter; readers: number }> {
    return [...this.writers.values()]
      .filter((writer) => !writer.end)
      .map((writer) => ({ writer, readers: this.mirrorOf(writer.id)?.readerCount ?? 0 }));
  }

  observe(observer: StreamObserver): void {
    this.observers.push(observer);
  }

  /** Waits (a little) for the ends just written, then disconnects. */
  async close(): Promise<void> {
    clearInterval(this.ticker);
    const deadline = Date.now() + 2000;
    while (this.writers.size > 0 && this.link.ready && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await this.link.close();
  }

  // --- for writers and mirrors -------------------------------------------

  keysOf(id: string): StreamKeys {
    return streamKeys(this.options.keyPrefix, id);
  }

  async inspect(id: string): Promise<StreamMeta | undefined> {
    const keys = streamKeys(this.options.keyPrefix, id);
    const reply = await this.link.run(
      INSPECT,
      [keys.meta, keys.log],
      [lostTemplate(id), keys.channel, this.retentionMs, this.resumeGraceMs],
    );
    return parseMeta(id, reply);
  }

  async loseIfExpired(id: string): Promise<void> {
    const keys = streamKeys(this.options.keyPrefix, id);
    const reply = (await this.link.run(
      STOP,
      [keys.meta, keys.log],
      [lostTemplate(id), keys.channel, this.retentionMs, 'lose', this.resumeGraceMs],
    )) as string[];
    if (reply[0] === 'ok') {
      this.observer.producerLost();
      this.retire(id, reply[1], Number(reply[2]) || 0);
    }
  }

  otherReaders(id: string): Promise<number> {
    const keys = streamKeys(this.options.keyPrefix, id);
    return this.link.run(OTHER_READERS, [keys.readers], [this.replicaId]) as Promise<number>;
  }

  mirrorOf(id: string): RedisMirror | undefined {
    const mirror = this.mirrors.get(id);
    return mirror && !mirror.isDisposed ? mirror : undefined;
  }

  storedHere(id: string): number | undefined {
    return this.writers.get(id)?.storedCount;
  }

  viewOf(meta: StreamMeta): StreamView {
    return new RedisStreamView(this, meta);
  }

  /** The mirror this process's readers of the stream share; made on first use. */
  mirrorFor(meta: StreamMeta): RedisMirror {
    let mirror = this.mirrorOf(meta.id);
    if (!mirror) {
      mirror = new RedisMirror(this, streamKeys(this.options.keyPrefix, meta.id), meta);
      this.mirrors.set(meta.id, mirror);
    }
    return mirror;
  }

  schedule(writer: RedisWriter): void {
    this.dirty.add(writer);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  readersChanged(mirror: RedisMirror): void {
    const count = mirror.isDisposed ? 0 : mirror.readerCount;
    if (count === 0 && this.mirrors.get(mirror.id) === mirror) this.mirrors.delete(mirror.id);
    const announced = this.present.has(mirror.id);
    if (count > 0 && !announced && this.mayBeProducedElsewhere(mirror.id)) {
      this.present.add(mirror.id);
      this.announce(mirror.id, this.leaseMs, true);
    } else if (count === 0 && announced && !this.mirrorOf(mirror.id)) {
      this.present.delete(mirror.id);
      this.announce(mirror.id, 0, true);
    }
    this.writers.get(mirror.id)?.localReadersChanged(count);
  }

  /**
   * Whether another replica produces the stream, or may one day: only a
   * producer elsewhere reads this replica's presence (to apply the abandon
   * policy). A stream produced here that cannot move (any but a resumable
   * published one, whose publisher may resume on another replica) never has
   * one, so its readers here are not announced: two scripts fewer a call.
   */
  private mayBeProducedElsewhere(id: string): boolean {
    const writer = this.writers.get(id);
    return writer === undefined || writer.publishedResumable;
  }

  readerAdvanced(mirror: RedisMirror): void {
    this.writers.get(mirror.id)?.maybeWake();
  }

  corrupt(mirror: RedisMirror, error: CorruptEntry): void {
    this.logger.error(
      { streamId: mirror.id, entry: error.entryId, error: error.message },
      'corrupt stream log entry; the stream ends with INTERNAL',
    );
    void this.stop(mirror.id, new StreamFailure(StatusCode.INTERNAL, `stream ${mirror.id}: ${error.message}`)).catch(() => undefined);
  }

  listen(channel: string, listener: (message: string) => void): void {
    let listeners = this.channels.get(channel);
    if (!listeners) {
      listeners = new Set();
      this.channels.set(channel, listeners);
      const all = listeners;
      this.link
        .subscribe(channel, (message) => {
          for (const each of [...all]) each(message);
        })
        .catch((error: unknown) => this.logger.warn({ channel, err: error }, 'redis subscribe failed'));
    }
    listeners.add(listener);
  }

  unlisten(channel: string, listener: (message: string) => void): void {
    const listeners = this.channels.get(channel);
    if (!listeners) return;
    listeners.delete(listener);
    if (listeners.size > 0) return;
    this.channels.delete(channel);
    this.link.unsubscribe(channel, () => undefined).catch(() => undefined);
  }

  ended(writer: RedisWriter, end: StreamEnd, incarnation?: string): void {
    this.forgetWriter(writer);
    for (const observer of this.observers) observer.ended?.(writer, end);
    if (incarnation) this.retire(writer.id, incarnation, writer.textBytes);
  }

  released(writer: RedisWriter): void {
    this.forgetWriter(writer);
    for (const observer of this.observers) observer.released?.(writer);
  }

  // --- internals -----------------------------------------------------------

  private adopt(writer: RedisWriter): RedisWriter {
    this.writers.set(writer.id, writer);
    this.renewals.add(writer);
    this.listen(writer.keys.channel, writer.listener);
    for (const observer of this.observers) observer.started?.(writer);
    return writer;
  }

  private forgetWriter(writer: RedisWriter): void {
    if (this.writers.get(writer.id) === writer) this.writers.delete(writer.id);
    this.renewals.delete(writer);
    this.unlisten(writer.keys.channel, writer.listener);
  }

  private checkReachable(): void {
    if (!this.link.ready)
      throw new StreamFailure(StatusCode.UNAVAILABLE, 'the stream store (redis) is unreachable; retry later', {
        reason: 'STORE_UNAVAILABLE',
      });
  }

  /** Sends every writer's waiting run and end: one pipeline for all the streams that appended in this turn. */
  private flush(): void {
    this.flushScheduled = false;
    let commands = 0;
    for (const writer of this.dirty) commands += writer.flush();
    this.dirty.clear();
    if (commands > 0) this.observer.pipeline(commands);
  }

  /**
   * One slice of the lease renewals and presence refreshes: each comes every
   * third of a lease, in its own slice of that period, so they go out a few
   * at a time instead of all at once.
   */
  private tick(): void {
    const writers = this.renewals.turn();
    const present = this.present.turn();
    if (!this.link.ready) return;
    for (const writer of writers) writer.renew();
    for (const id of present) this.announce(id, this.leaseMs, false);
  }

  private announce(id: string, ttlMs: number, tell: boolean): void {
    if (!this.link.ready) return;
    const keys = streamKeys(this.options.keyPrefix, id);
    this.link.run(PRESENCE, [keys.readers], [this.replicaId, ttlMs, keys.channel, tell ? '1' : '0']).catch(() => undefined);
  }

  /** Records a finished stream and deletes those past the count bound. */
  private retire(id: string, incarnation: string, textBytes: number): void {
    const { keyPrefix, maxRetainedStreams, maxRetainedBytes } = this.options;
    this.link
      .run(
        RETIRE,
        [retainedKey(keyPrefix), retainedBytesKey(keyPrefix)],
        [`${id} ${incarnation}`, this.retentionMs, maxRetainedStreams, textBytes, maxRetainedBytes],
      )
      .then((popped) => {
        for (const member of popped as string[]) {
          const [oldId, oldIncarnation] = member.split(' ');
          const keys = streamKeys(this.options.keyPrefix, oldId);
          void this.link.run(FORGET, [keys.meta, keys.log, keys.readers], [oldIncarnation]).catch(() => undefined);
        }
      })
      .catch((error: unknown) => this.logger.warn({ err: error }, 'retention bookkeeping failed'));
  }
}

/** What readers of this process see of a stream found in Redis: its meta, and readers from the shared mirror. */
class RedisStreamView implements StreamView {
  constructor(
    private readonly store: RedisStore,
    private readonly meta: StreamMeta,
  ) {}

  get id(): string {
    return this.meta.id;
  }

  get model(): string {
    return this.meta.model;
  }

  get fingerprint(): string | undefined {
    return this.meta.fingerprint;
  }

  get owner(): string | undefined {
    return this.meta.owner;
  }

  get abandonPolicy(): StreamMeta['abandonPolicy'] {
    return this.meta.abandonPolicy;
  }

  get nextSeq(): number {
    return this.meta.nextSeq;
  }

  get end(): StreamEnd | undefined {
    return this.meta.end;
  }

  openReader(fromSeq: number): StreamReader {
    if (this.meta.end && Number.isSafeInteger(fromSeq) && fromSeq > this.meta.nextSeq) throw pastTheEnd(this, fromSeq);
    return this.store.mirrorFor(this.meta).openReader(fromSeq);
  }
}

function failureTemplate(failure: FailureFields): string {
  return JSON.stringify({
    reason: failure.code === StatusCode.CANCELLED ? 'cancelled' : 'error',
    failure: storedFailure(failure),
  });
}

/**
 * The end of a stream whose producer's lease ran out: what its readers see
 * after its last stored token. Sent with every create and lookup, so built
 * from plain fields: a StreamFailure would capture a stack (some 30 µs) only
 * to be serialized.
 */
function lostTemplate(id: string): string {
  return failureTemplate({
    code: StatusCode.UNAVAILABLE,
    message: `producer lost: the replica producing stream ${id} stopped renewing its lease`,
    details: { reason: 'PRODUCER_LOST' },
  });
}
