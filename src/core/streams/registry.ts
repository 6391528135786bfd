import { randomUUID } from 'node:crypto';
import { StatusCode, StreamFailure, alreadyExists, notFound } from './status';
import type { CreateStreamOptions, StreamObserver } from './store';
import { type StreamEnd, TokenStream } from './tokenStream';

export interface StreamRegistryOptions {
  /** Most streams live at once; one more is RESOURCE_EXHAUSTED. */
  maxActiveStreams: number;
  /** How long a finished stream stays readable for Subscribe, in ms. */
  retentionMs: number;
  /** Most finished streams kept; the oldest finished are dropped first. */
  maxRetainedStreams: number;
  /** Most UTF-8 bytes of token text over all finished streams kept; the oldest finished are dropped first. */
  maxRetainedBytes: number;
  /** Backpressure window per stream, in tokens. */
  windowTokens: number;
  /** How long an abandoned resumable stream keeps producing, in ms. */
  resumeGraceMs: number;
}

/**
 * Every stream this process holds: live ones, and finished ones for a bounded
 * time and number so late readers can still resume them.
 */
export class StreamRegistry {
  private readonly live = new Map<string, TokenStream>();
  /** Finished streams in the order they finished (Map keeps insertion order). */
  private readonly retained = new Map<string, { stream: TokenStream; expiresAtMs: number; bytes: number }>();
  /** The token text bytes of the retained streams. */
  private retainedTextBytes = 0;
  private readonly observers: StreamObserver[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(readonly options: StreamRegistryOptions) {}

  get activeCount(): number {
    return this.live.size;
  }

  /** The live streams, in the order they started. */
  liveStreams(): TokenStream[] {
    return [...this.live.values()];
  }

  get retainedCount(): number {
    return this.retained.size;
  }

  /** UTF-8 bytes of token text over the retained streams. */
  get retainedBytes(): number {
    return this.retainedTextBytes;
  }

  observe(observer: StreamObserver): void {
    this.observers.push(observer);
  }

  /** A live or retained stream, or undefined. */
  get(id: string): TokenStream | undefined {
    const live = this.live.get(id);
    if (live) return live;
    const retained = this.retained.get(id);
    if (!retained) return undefined;
    if (retained.expiresAtMs <= Date.now()) {
      this.forget(id);
      return undefined;
    }
    return retained.stream;
  }

  /** A live or retained stream; NOT_FOUND otherwise. */
  require(id: string, field = 'stream_id'): TokenStream {
    const stream = this.get(id);
    if (!stream) throw notFound(id, field);
    return stream;
  }

  /**
   * Creates a live stream. A live stream with the same id is ALREADY_EXISTS;
   * a finished one with the same id is replaced. Over maxActiveStreams is
   * RESOURCE_EXHAUSTED.
   */
  create(options: CreateStreamOptions): TokenStream {
    const id = options.id || randomUUID();
    if (this.live.has(id)) {
      throw alreadyExists(id, 'live');
    }
    if (this.live.size >= this.options.maxActiveStreams) {
      throw new StreamFailure(StatusCode.RESOURCE_EXHAUSTED, `too many live streams: the limit is ${this.options.maxActiveStreams}`, {
        reason: 'TOO_MANY_STREAMS',
      });
    }
    this.forget(id);
    const stream = new TokenStream({
      id,
      model: options.model,
      windowTokens: this.options.windowTokens,
      resumeGraceMs: this.options.resumeGraceMs,
      abandonPolicy: options.abandonPolicy,
      promptTokens: options.promptTokens,
      countPromptTokens: options.countPromptTokens,
      fingerprint: options.fingerprint,
      owner: options.owner,
      publishedResumable: options.publishedResumable,
    });
    this.live.set(id, stream);
    for (const observer of this.observers) observer.started?.(stream);
    stream.onEnd((end) => this.retire(stream, end));
    return stream;
  }

  /** Ends every live stream with the failure (shutdown). */
  failAll(failure: StreamFailure): void {
    for (const stream of [...this.live.values()]) stream.fail(failure);
  }

  /** Drops finished streams past their retention; called periodically. */
  sweep(nowMs = Date.now()): void {
    for (const [id, entry] of this.retained) {
      if (entry.expiresAtMs > nowMs) break; // finish order is expiry order
      this.forget(id);
    }
  }

  /** Stops the periodic sweep. */
  close(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  /** Drops a retained stream, if it is one. */
  private forget(id: string): void {
    const entry = this.retained.get(id);
    if (!entry) return;
    this.retained.delete(id);
    this.retainedTextBytes -= entry.bytes;
  }

  private retire(stream: TokenStream, end: StreamEnd): void {
    if (this.live.get(stream.id) === stream) this.live.delete(stream.id);
    for (const observer of this.observers) observer.ended?.(stream, end);
    if (this.options.retentionMs <= 0 || this.options.maxRetainedStreams <= 0 || this.options.maxRetainedBytes <= 0) return;
    const bytes = stream.textBytes;
    this.retained.set(stream.id, { stream, expiresAtMs: Date.now() + this.options.retentionMs, bytes });
    this.retainedTextBytes += bytes;
    const { maxRetainedStreams, maxRetainedBytes } = this.options;
    while (this.retained.size > maxRetainedStreams || this.retainedTextBytes > maxRetainedBytes) {
      this.forget(this.retained.keys().next().value as string);
    }
    if (!this.sweepTimer) {
      this.sweepTimer = setInterval(() => this.sweep(), Math.min(this.options.retentionMs, 10_000));
      this.sweepTimer.unref();
    }
  }
}
