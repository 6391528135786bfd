import { createHash } from 'node:crypto';
import type { CacheConfig } from './config';
import type { GenerateInput } from './validate';
import type { GenerationRequest } from './models/types';
import type { SharedCache, StreamEnd, StreamObserver, StreamStore, StreamView, StreamWriter } from './streams/store';

/** A cache lookup's outcome, for the metrics. */
export type CacheResult = 'hit' | 'miss' | 'stored';

/**
 * A cache of finished deterministic generations: an identical request (same
 * model, messages, prompt and every parameter) with a fixed seed or
 * temperature 0, within the TTL, is answered from the first one's finished
 * stream, replayed at full speed, instead of generated again. Only a stream
 * that finished (stop or length) is cached: never a failed or cancelled one.
 * A request that names its own stream_id is never answered from the cache
 * (it asked for that stream). On the redis store the entries are in Redis
 * (bounded by the TTL), so every replica answers from them; on the memory
 * store they are this process's, at most maxEntries, the least recently used
 * dropped first. A cached stream is replayable while it is retained, so the
 * effective TTL is at most streams.retentionMs.
 */
export class ResponseCache implements StreamObserver {
  private readonly local = new Map<string, { streamId: string; expiresAtMs: number }>();
  private readonly pending = new WeakMap<StreamWriter, string>();

  constructor(
    private readonly config: CacheConfig,
    private readonly store: StreamStore,
    private readonly count: (result: CacheResult) => void = () => undefined,
  ) {}

  get enabled(): boolean {
    return this.config.ttlMs > 0;
  }

  /**
   * The key of a request the cache may answer; undefined when it may not
   * (off, not deterministic, or an own stream_id). Each principal has its own
   * entries: whether someone else asked the same is nothing another caller
   * learns.
   */
  keyOf(model: string, request: GenerationRequest, input: GenerateInput, principal: string | undefined): string | undefined {
    if (!this.enabled || input.streamId !== '') return undefined;
    if (input.seed === undefined && request.temperature !== 0) return undefined;
    const { deadlineMs: _deadline, trace: _trace, ...fields } = request;
    return createHash('sha256')
      .update(JSON.stringify([principal ?? '', model, fields]))
      .digest('hex');
  }

  /** The finished stream cached under the key, if it is still there and ended well. */
  async lookup(key: string): Promise<StreamView | undefined> {
    const streamId = await this.get(key);
    const stream = streamId === undefined ? undefined : await this.store.find(streamId);
    const usable = stream?.end !== undefined && stream.end.failure === undefined;
    this.count(usable ? 'hit' : 'miss');
    return usable ? stream : undefined;
  }

  /** Caches the stream under the key once it finishes well. */
  remember(writer: StreamWriter, key: string): void {
    this.pending.set(writer, key);
  }

  ended(stream: StreamWriter, end: StreamEnd): void {
    const key = this.pending.get(stream);
    if (key === undefined) return;
    this.pending.delete(stream);
    if (end.failure || (end.reason !== 'stop' && end.reason !== 'length')) return;
    this.count('stored');
    void this.set(key, stream.id).catch(() => undefined); // a lost entry costs one generation, nothing more
  }

  private async get(key: string): Promise<string | undefined> {
    const shared = this.store.sharedCache;
    if (shared) return shared.cached(key);
    const entry = this.local.get(key);
    if (!entry) return undefined;
    this.local.delete(key);
    if (entry.expiresAtMs <= Date.now()) return undefined;
    this.local.set(key, entry); // most recently used last
    return entry.streamId;
  }

  private async set(key: string, streamId: string): Promise<void> {
    const shared: SharedCache | undefined = this.store.sharedCache;
    if (shared) return shared.cache(key, streamId, this.config.ttlMs);
    this.local.delete(key);
    this.local.set(key, { streamId, expiresAtMs: Date.now() + this.config.ttlMs });
    while (this.local.size > this.config.maxEntries) this.local.delete(this.local.keys().next().value as string);
  }
}
