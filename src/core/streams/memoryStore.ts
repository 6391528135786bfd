import { StreamRegistry, type StreamRegistryOptions } from './registry';
import { type StreamFailure, alreadyExists } from './status';
import type { CreateStreamOptions, StreamObserver, StreamStore, StreamView, StreamWriter } from './store';
import type { TokenStream } from './tokenStream';

/**
 * The default store: every stream lives in this process (a StreamRegistry of
 * TokenStreams), so `npm start` needs nothing else. A stream dies with the
 * process; the redis store is for streams that must outlive it.
 */
export class MemoryStore implements StreamStore {
  readonly kind = 'memory';
  readonly shared = false;
  readonly ready = true;
  readonly registry: StreamRegistry;

  constructor(options: StreamRegistryOptions) {
    this.registry = new StreamRegistry(options);
  }

  get activeCount(): number {
    return this.registry.activeCount;
  }

  async create(options: CreateStreamOptions): Promise<StreamWriter> {
    const existing = options.id ? this.registry.get(options.id) : undefined;
    if (existing?.end && !options.replaceFinished) {
      throw alreadyExists(existing.id, 'finished');
    }
    return this.registry.create(options);
  }

  async find(id: string): Promise<StreamView | undefined> {
    return this.registry.get(id);
  }

  async stop(id: string, failure: StreamFailure): Promise<boolean> {
    return this.registry.require(id).fail(failure);
  }

  async reopen(id: string): Promise<StreamWriter | undefined> {
    const stream: TokenStream | undefined = this.registry.get(id);
    if (!stream || stream.end || !stream.publishedResumable) return undefined;
    if (!stream.reattach()) {
      throw alreadyExists(id, 'producing', 'open.stream_id');
    }
    return stream;
  }

  failAll(failure: StreamFailure): void {
    this.registry.failAll(failure);
  }

  liveStreams(): Array<{ writer: StreamWriter; readers: number }> {
    return this.registry.liveStreams().map((stream) => ({ writer: stream, readers: stream.readerCount }));
  }

  observe(observer: StreamObserver): void {
    this.registry.observe(observer);
  }

  async close(): Promise<void> {
    this.registry.close();
  }
}
