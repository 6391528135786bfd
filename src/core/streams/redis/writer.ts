import type { Logger } from 'pino';
import { StatusCode, StreamFailure } from '../status';
import type { StreamView, StreamWriter } from '../store';
import { type AbandonPolicy, PromptTokens, type StreamEnd, type Usage } from '../tokenStream';
import { encodeEnd, encodeRun } from './codec';
import type { StreamKeys } from './keys';
import { type RedisLink, storeUnavailable } from './link';
import type { StreamMeta } from './meta';
import type { RedisMirror } from './mirror';
import { APPEND, ATTACHED, END, RENEW } from './scripts';

/** What a writer needs from its store. */
export interface WriterHost {
  readonly link: RedisLink;
  readonly logger: Logger;
  readonly windowTokens: number;
  /** Most tokens appended but not yet acknowledged by Redis before the producer waits. */
  readonly maxUnstoredTokens: number;
  readonly leaseMs: number;
  readonly retentionMs: number;
  readonly resumeGraceMs: number;
  /** Puts the writer in this turn's pipeline. */
  schedule(writer: RedisWriter): void;
  /** This process's readers of the stream, if any. */
  mirrorOf(id: string): RedisMirror | undefined;
  /** How many other replicas have readers of the stream now. */
  otherReaders(id: string): Promise<number>;
  inspect(id: string): Promise<StreamMeta | undefined>;
  /** Ends a stream whose producer lost its lease (unless a published one is still within its grace). */
  loseIfExpired(id: string): Promise<void>;
  /** The writer's stream ended (its own end, or one found in Redis); `incarnation` when this writer stored it. */
  ended(writer: RedisWriter, end: StreamEnd, incarnation?: string): void;
  /** Another replica took the stream over: this process no longer produces it. */
  released(writer: RedisWriter): void;
  /** A view for this process's readers: the stream as the writer knows it. */
  viewOf(meta: StreamMeta): StreamView;
}

export interface WriterOptions {
  keys: StreamKeys;
  meta: StreamMeta;
  /** The lease token Redis holds for this producer. */
  token: string;
  /** Counts the prompt's tokens when the end needs them (see CreateStreamOptions.countPromptTokens). */
  countPromptTokens?: () => number;
}

/** Why Redis refused a write: the stream ended elsewhere, another producer holds it, the lease ran out, or it is gone. */
type Refusal = 'ended' | 'fenced' | 'expired' | 'gone' | 'seq';

/**
 * The producer's handle on a stream it produces on the redis store. Tokens
 * go to Redis in runs: everything appended in one event-loop turn is one
 * entry, sent in the store's pipeline with every other stream's. Readers
 * (here and on every replica) see a token only once Redis has acknowledged
 * it. Every write is fenced in Redis by the lease token and the expected next
 * seq, so a producer that lost its lease (paused too long, or replaced) can
 * never write again; it learns so from the refusal and stops.
 *
 * Backpressure is the memory store's: the producer waits while this
 * process's slowest reader is a window behind, and also while more than
 * maxUnstoredTokens are waiting for Redis (a slow Redis pauses producers
 * instead of growing memory). Readers on other replicas read from Redis at
 * their own pace.
 */
export class RedisWriter implements StreamWriter {
  readonly id: string;
  readonly model: string;
  readonly fingerprint: string | undefined;
  readonly owner: string | undefined;
  readonly abandonPolicy: AbandonPolicy;
  readonly publishedResumable: boolean;
  readonly createdAtMs = performance.now();
  firstTokenAtMs: number | undefined;
  lastProgressAtMs = performance.now();
  readonly keys: StreamKeys;
  readonly token: string;
  /** Which creation of the id this writer produces. */
  readonly incarnation: string;

  private appended: number;
  private stored: number;
  private pending: string[] = [];
  private requestedEnd: StreamEnd | undefined;
  private endSent = false;
  /** A write (append or end) is out, not yet answered. */
  private writing = false;
  private settledEnd: StreamEnd | undefined;
  /** No more writes: ended, refused, or moved to another replica. */
  private done = false;
  private readonly controller = new AbortController();
  private readonly endListeners: Array<(end: StreamEnd) => void> = [];
  private producerWait: Promise<void> | undefined;
  private producerWake: (() => void) | undefined;
  private attached = true;
  private hadReaders = false;
  private abandonTimer: NodeJS.Timeout | undefined;
  private publisherGraceTimer: NodeJS.Timeout | undefined;
  private readonly prompt: PromptTokens;
  /** While the CREATE of a stream started without waiting (see confirm) is unanswered: whether Redis took it. */
  private creating: Promise<boolean> | undefined;

  constructor(
    private readonly host: WriterHost,
    options: WriterOptions,
  ) {
    const { meta } = options;
    this.id = meta.id;
    this.model = meta.model;
    this.fingerprint = meta.fingerprint;
    this.owner = meta.owner;
    this.abandonPolicy = meta.abandonPolicy;
    this.publishedResumable = meta.publishedResumable;
    this.prompt = new PromptTokens(options.countPromptTokens ?? meta.promptTokens);
    this.appended = meta.nextSeq;
    this.stored = meta.nextSeq;
    this.textBytes = meta.textBytes;
    this.keys = options.keys;
    this.token = options.token;
    this.incarnation = meta.incarnation;
  }

  /** Receives the stream's channel messages (see notified). */
  /** UTF-8 bytes of token text: what Redis held at (re)open, plus what was appended here. */
  textBytes: number;

  readonly listener = (message: string) => this.notified(message);

  /** Tokens in the prompt, counted the first time they are asked for when the writer was given a counter. */
  get promptTokens(): number {
    return this.prompt.count;
  }

  /**
   * The CREATE of a stream this writer started without waiting for it (see
   * RedisStore.create): if Redis did not take it, the stream ends here with
   * UNAVAILABLE, as after a failed write (the writes behind it are refused
   * by their fence: no lease is ours). A write that ran ahead of it, when
   * Redis had lost its scripts, goes again once it is answered (see write).
   */
  confirm(created: Promise<unknown>): void {
    this.creating = created.then(
      (reply) => {
        this.creating = undefined;
        if (isOk(reply)) return true;
        this.refused(reply);
        return false;
      },
      (error: unknown) => {
        this.creating = undefined;
        this.storeFailed(error);
        return false;
      },
    );
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get nextSeq(): number {
    return this.appended;
  }

  /**
   * Tokens Redis has acknowledged, while this writer still hands each run it
   * stores (and then its end) to this process's mirror; undefined once it
   * does not (ended, refused, or moved to another replica).
   */
  get storedCount(): number | undefined {
    return this.done ? undefined : this.stored;
  }

  get end(): StreamEnd | undefined {
    return this.requestedEnd ?? this.settledEnd;
  }

  get view(): StreamView {
    return this.host.viewOf(this.meta());
  }

  get producerPaused(): boolean {
    return this.producerWait !== undefined;
  }

  get room(): number {
    const slowest = this.host.mirrorOf(this.id)?.slowestPos;
    const window = slowest === undefined ? Infinity : this.host.windowTokens - (this.appended - slowest);
    const unstored = this.host.maxUnstoredTokens - (this.appended - this.stored);
    return Math.max(0, Math.min(window, unstored));
  }

  append(token: string): Promise<void> | undefined {
    if (this.end) return undefined;
    this.pending.push(token);
    this.textBytes += Buffer.byteLength(token);
    return this.afterAppend(1);
  }

  appendMany(tokens: readonly string[]): Promise<void> | undefined {
    if (this.end || tokens.length === 0) return undefined;
    for (const token of tokens) this.pending.push(token);
    this.textBytes += Buffer.byteLength(tokens.length === 1 ? tokens[0] : tokens.join(''));
    return this.afterAppend(tokens.length);
  }

  finish(reason: 'stop' | 'length', usage?: Partial<Usage>): boolean {
    if (this.end) return false;
    this.requestedEnd = { reason, usage: this.usage(usage) };
    this.host.schedule(this);
    return true;
  }

  fail(failure: StreamFailure, usage?: Partial<Usage>): boolean {
    if (this.end) return false;
    this.requestedEnd = { reason: failure.code === StatusCode.CANCELLED ? 'cancelled' : 'error', usage: this.usage(usage), failure };
    this.controller.abort(failure);
    this.wakeProducer();
    this.host.schedule(this);
    return true;
  }

  detach(): void {
    if (this.end || !this.attached) return;
    if (!this.publishedResumable) {
      this.fail(
        new StreamFailure(StatusCode.UNAVAILABLE, `the publisher of stream ${this.id} went away before half-closing`, {
          reason: 'PRODUCER_LOST',
        }),
      );
      return;
    }
    this.attached = false;
    this.setAttached('0');
    const graceMs = this.host.resumeGraceMs;
    this.publisherGraceTimer = setTimeout(() => {
      this.fail(
        new StreamFailure(StatusCode.UNAVAILABLE, `the publisher of stream ${this.id} went away and did not resume within ${graceMs} ms`, {
          reason: 'PRODUCER_LOST',
        }),
      );
    }, graceMs);
    this.publisherGraceTimer.unref();
  }

  /** A new producer here continues a detached resumable stream; false when it is not waiting for one. */
  reattach(): boolean {
    if (this.end || this.done || this.attached) return false;
    clearTimeout(this.publisherGraceTimer);
    this.attached = true;
    this.setAttached('1');
    return true;
  }

  get isAttached(): boolean {
    return this.attached;
  }

  onEnd(listener: (end: StreamEnd) => void): void {
    if (this.settledEnd) listener(this.settledEnd);
    else this.endListeners.push(listener);
  }

  /**
   * Sends what is waiting: the run appended since the last write, else the
   * end once every token is stored. One write at a time per stream: its
   * order is then the order Redis applies them in (even when Redis lost its
   * scripts and one is sent again), and whatever is appended while a write
   * is out goes as one run in the next: under load, runs grow. Returns how
   * many commands it sent.
   */
  flush(): number {
    if (this.done || this.writing) return 0;
    const end = this.requestedEnd && !this.endSent ? this.requestedEnd : undefined;
    if (end) this.endSent = true;
    if (this.pending.length > 0) {
      const tokens = this.pending;
      this.pending = [];
      const seq = this.appended - tokens.length;
      const { text, lengths } = encodeRun(tokens);
      const args = [
        this.token,
        seq,
        tokens.length,
        text,
        lengths,
        this.keys.channel,
        this.host.retentionMs,
        ...(end ? [encodeEnd(end)] : []),
      ];
      this.write(APPEND, args, (reply) => {
        this.stored_(seq, tokens);
        if (end) this.settle(end, 'stored', String(reply[1] ?? ''));
      });
      return 1;
    }
    if (end) {
      const args = [this.token, this.appended, encodeEnd(end), this.keys.channel, this.host.retentionMs];
      this.write(END, args, (reply) => this.settle(end, 'stored', String(reply[1] ?? '')));
      return 1;
    }
    return 0;
  }

  /** One fenced write; `stored` runs when Redis took it. */
  private write(script: typeof APPEND, args: Array<string | number>, stored: (reply: unknown[]) => void): void {
    this.writing = true;
    const attempt = (first: boolean): Promise<void> =>
      this.host.link.run(script, [this.keys.meta, this.keys.log, this.keys.readers].slice(0, script.keys), args).then(
        (reply): void | Promise<void> => {
          if (isOk(reply)) return stored(reply as unknown[]);
          // Ahead of its own CREATE: Redis had lost its scripts, and the CREATE, refused NOSCRIPT, went again
          // behind this write. Nothing was written (no stream yet): the same write goes again once it is created.
          const creating = this.creating;
          if (first && creating && (reply as unknown[])[0] === 'gone') {
            return creating.then((created) => (created && !this.done ? attempt(false) : undefined));
          }
          this.refused(reply);
        },
        (error: unknown) => this.storeFailed(error),
      );
    attempt(true).finally(() => this.written());
  }

  /** A write came back: what waited behind it goes in the next pipeline. */
  private written(): void {
    this.writing = false;
    if (!this.done && (this.pending.length > 0 || (this.requestedEnd && !this.endSent))) this.host.schedule(this);
  }

  /** Extends the lease; a refusal means the stream ended elsewhere or is no longer ours. */
  renew(): void {
    if (this.done) return;
    this.host.link.run(RENEW, [this.keys.meta, this.keys.log], [this.token, this.host.leaseMs, this.host.retentionMs]).then(
      (reply) => (isOk(reply) ? undefined : this.refused(reply)),
      (error: unknown) => this.renewFailed(error),
    );
  }

  /** A message on the stream's channel: its end written by another replica, a takeover, readers coming or going. */
  notified(message: string): void {
    if (this.done) return;
    if (message === 'e' && !this.endSent) {
      // Ended elsewhere (a Cancel on another replica): stop the producer now, then read how it ended.
      this.controller.abort(
        new StreamFailure(StatusCode.CANCELLED, `stream ${this.id} was ended on another replica`, {
          reason: 'STREAM_CANCELLED',
          cancelledBy: 'cancel',
        }),
      );
      this.reconcile();
    } else if (message.startsWith('x') && message.slice(1) !== this.token) {
      this.release();
    } else if (message === 'r') {
      this.checkAbandoned();
    }
  }

  /** This process's reader count for the stream changed. */
  localReadersChanged(count: number): void {
    if (count > 0) {
      this.hadReaders = true;
      clearTimeout(this.abandonTimer);
      this.abandonTimer = undefined;
      return;
    }
    this.checkAbandoned();
  }

  private meta(): StreamMeta {
    return {
      id: this.id,
      live: this.settledEnd === undefined,
      model: this.model,
      fingerprint: this.fingerprint,
      owner: this.owner,
      abandonPolicy: this.abandonPolicy,
      publishedResumable: this.publishedResumable,
      // Not counted for a view: the count is the end's (a view of this writer is read for its seq and end).
      promptTokens: this.prompt.known ?? 0,
      nextSeq: this.stored,
      textBytes: this.textBytes,
      end: this.settledEnd,
      incarnation: this.incarnation,
    };
  }

  private afterAppend(count: number): Promise<void> | undefined {
    this.appended += count;
    this.lastProgressAtMs = performance.now();
    this.firstTokenAtMs ??= this.lastProgressAtMs;
    this.host.schedule(this);
    if (this.room > 0) return undefined;
    this.producerWait ??= new Promise<void>((resolve) => (this.producerWake = resolve));
    return this.producerWait;
  }

  /** @internal A reader here advanced, or Redis took tokens: the producer may go on. */
  maybeWake(): void {
    if (this.producerWake && this.room > 0) this.wakeProducer();
  }

  private wakeProducer(): void {
    const wake = this.producerWake;
    if (wake) this.lastProgressAtMs = performance.now();
    this.producerWait = undefined;
    this.producerWake = undefined;
    wake?.();
  }

  private stored_(seq: number, tokens: string[]): void {
    this.stored = seq + tokens.length;
    this.host.mirrorOf(this.id)?.offer(seq, tokens);
    this.maybeWake();
  }

  private usage(usage: Partial<Usage> | undefined): Usage {
    return { promptTokens: usage?.promptTokens ?? this.promptTokens, completionTokens: usage?.completionTokens ?? this.appended };
  }

  /**
   * The end is what readers see now. Where it is tells this process's
   * readers how to get it: `stored` by this writer after its last token
   * (handed over at once), found `inRedis` (written by another replica; read
   * there), or only `here` (Redis is out of reach, or the id names another
   * stream now: they get it as a failure after what they read).
   */
  private settle(end: StreamEnd, where: 'stored' | 'inRedis' | 'here', incarnation?: string): void {
    if (this.settledEnd) return;
    this.done = true;
    this.settledEnd = end;
    this.requestedEnd ??= end;
    this.prompt.settle(end);
    if (end.failure && !this.controller.signal.aborted) this.controller.abort(end.failure);
    this.wakeProducer();
    this.clearTimers();
    const mirror = this.host.mirrorOf(this.id);
    if (where === 'stored') mirror?.offerEnd(this.stored, end);
    else if (where === 'inRedis') mirror?.resync();
    else if (end.failure) mirror?.fail(end.failure);
    this.host.ended(this, end, incarnation);
    for (const listener of this.endListeners.splice(0)) listener(end);
  }

  private refused(reply: unknown): void {
    if (this.done) return;
    const reason = String((reply as unknown[])[0]) as Refusal;
    this.done = true;
    this.pending = [];
    switch (reason) {
      case 'ended':
        this.reconcile();
        return;
      case 'fenced':
        this.reconcile(); // another producer holds it: this one's (a takeover), or a new stream's that reused the id
        return;
      case 'expired':
        // Our lease ran out (this process was paused, or Redis was out of reach): we may not write again.
        this.host.logger.warn({ streamId: this.id }, 'lease ran out; the stream is no longer produced here');
        this.host.loseIfExpired(this.id).then(
          () => this.reconcile(),
          (error: unknown) => this.storeFailed(error),
        );
        return;
      default:
        this.host.logger.error({ streamId: this.id, reply }, 'the stream log refused a write');
        this.settle(
          this.localFailure(
            new StreamFailure(StatusCode.UNAVAILABLE, `stream ${this.id} is no longer in the stream log (${reason})`, {
              reason: 'PRODUCER_LOST',
            }),
          ),
          'here',
        );
    }
  }

  /**
   * Reads how the stream ended (it was ended elsewhere), or learns it moved.
   * If the id names another stream by now (this one ended while this replica
   * could not renew its lease, and a new one reused the id), it ended here as
   * it ended there: its producer was lost.
   */
  private reconcile(): void {
    this.done = true;
    this.host.inspect(this.id).then(
      (meta) => {
        if (!meta || meta.incarnation !== this.incarnation) {
          const what = meta ? 'ended and its id was reused' : 'is gone from the stream log';
          this.settle(
            this.localFailure(
              new StreamFailure(
                StatusCode.UNAVAILABLE,
                `producer lost: stream ${this.id} ${what} while this replica could not renew its lease`,
                {
                  reason: 'PRODUCER_LOST',
                },
              ),
            ),
            'here',
          );
        } else if (meta.end) this.settle(meta.end, 'inRedis');
        else this.release(); // live without us: a published stream within its grace, which another replica took
      },
      (error: unknown) => this.storeFailed(error),
    );
  }

  /** Another replica produces the stream now (a resumable publisher moved there). */
  private release(): void {
    if (this.settledEnd) return;
    this.done = true;
    this.clearTimers();
    this.controller.abort(new StreamFailure(StatusCode.UNAVAILABLE, `stream ${this.id} is produced on another replica now`));
    this.wakeProducer();
    this.host.mirrorOf(this.id)?.resync();
    this.host.released(this);
  }

  /** Redis could not be reached (or did not answer in time): the stream ends here with UNAVAILABLE. */
  private storeFailed(error: unknown): void {
    if (this.settledEnd) return;
    const failure = storeUnavailable(error);
    this.host.logger.warn({ streamId: this.id, err: error }, 'stream log write failed; the stream ends with UNAVAILABLE');
    this.settle(this.localFailure(failure), 'here');
  }

  /** A renewal that did not reach Redis: the lease may still run; the next renewal tries again. */
  private renewFailed(error: unknown): void {
    this.host.logger.warn({ streamId: this.id, err: error }, 'lease renewal failed');
  }

  private localFailure(failure: StreamFailure): StreamEnd {
    return { reason: 'error', usage: { promptTokens: this.promptTokens, completionTokens: this.stored }, failure };
  }

  private setAttached(value: '0' | '1'): void {
    this.host.link.run(ATTACHED, [this.keys.meta], [this.token, value]).then(
      (reply) => (isOk(reply) ? undefined : this.refused(reply)),
      (error: unknown) => this.storeFailed(error),
    );
  }

  /**
   * Applies the abandon policy once no reader is left anywhere: on this
   * replica (the mirror) and on the others (their presence in Redis).
   */
  private checkAbandoned(): void {
    if (this.end || this.abandonPolicy === 'keep' || (this.host.mirrorOf(this.id)?.readerCount ?? 0) > 0) return;
    this.host.otherReaders(this.id).then(
      (others) => {
        if (this.end || (this.host.mirrorOf(this.id)?.readerCount ?? 0) > 0) return;
        if (others > 0) {
          this.hadReaders = true;
          clearTimeout(this.abandonTimer);
          this.abandonTimer = undefined;
          return;
        }
        if (!this.hadReaders) return; // nobody has read it yet: nobody left
        if (this.abandonPolicy === 'cancel') {
          this.fail(
            new StreamFailure(StatusCode.CANCELLED, `stream ${this.id} cancelled: its last consumer went away`, {
              reason: 'STREAM_CANCELLED',
              cancelledBy: 'abandoned',
            }),
          );
        } else if (!this.abandonTimer) {
          const graceMs = this.host.resumeGraceMs;
          this.abandonTimer = setTimeout(() => {
            this.abandonTimer = undefined;
            this.host.otherReaders(this.id).then(
              (count) => {
                if (count > 0 || (this.host.mirrorOf(this.id)?.readerCount ?? 0) > 0) return;
                this.fail(
                  new StreamFailure(StatusCode.CANCELLED, `stream ${this.id} cancelled: no consumer re-attached within ${graceMs} ms`, {
                    reason: 'STREAM_CANCELLED',
                    cancelledBy: 'abandoned',
                  }),
                );
              },
              () => undefined,
            );
          }, graceMs);
          this.abandonTimer.unref();
        }
      },
      () => undefined, // Redis is away: the stream fails on its next write anyway
    );
  }

  private clearTimers(): void {
    clearTimeout(this.abandonTimer);
    clearTimeout(this.publisherGraceTimer);
    this.abandonTimer = undefined;
  }
}

function isOk(reply: unknown): boolean {
  return Array.isArray(reply) && reply[0] === 'ok';
}
