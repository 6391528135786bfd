import type { Principal } from './principals';
import type { StreamEnd, StreamObserver, StreamStore, StreamWriter } from './streams/store';

/** How far back the time-to-first-token figures look, in ms. */
const TTFT_WINDOW_MS = 5 * 60_000;
/** Most samples kept for them. */
const MAX_TTFT_SAMPLES = 10_000;

/** One live stream, as the live streams page shows it. */
export interface LiveStream {
  id: string;
  model: string;
  /** The principal that started it; null with auth off. */
  principal: string | null;
  ageMs: number;
  tokens: number;
  tokensPerSecond: number;
  readers: number;
  state: 'starting' | 'producing' | 'waiting for readers';
}

/** What this process is streaming now, and how fast. */
export interface LiveSnapshot {
  /** Unix ms. */
  at: number;
  streams: LiveStream[];
  /** Tokens appended per second over every stream since the watcher's last snapshot. */
  tokensPerSecond: number;
  /** Time to first token of the streams that ended in the last five minutes, in ms. */
  ttftMs: { p50: number | null; p99: number | null; count: number };
}

/** One page watching: its own last total, to turn totals into a rate. */
export interface LiveWatcher {
  snapshot(): LiveSnapshot;
}

function percentile(sorted: Float64Array, fraction: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

/**
 * The live streams of this process (on the redis store, the streams this
 * replica produces) for the live streams page: each stream's figures, the
 * aggregate token rate, and time to first token over the last minutes. It
 * observes the store for the time to first token of each stream and for the
 * tokens of streams that ended, so a rate stays continuous as streams end.
 */
export class LiveStreams implements StreamObserver {
  private endedTokens = 0;
  /** Time to first token of the streams that ended, oldest first; at most MAX_TTFT_SAMPLES, the oldest dropped first. */
  private readonly ttft = new TtftSamples(MAX_TTFT_SAMPLES);

  constructor(private readonly store: StreamStore) {}

  ended(stream: StreamWriter, _end: StreamEnd): void {
    this.count(stream);
  }

  released(stream: StreamWriter): void {
    this.endedTokens += stream.nextSeq;
  }

  /** A watcher for one page, seeing the streams its principal may see. */
  watch(principal: Principal | undefined): LiveWatcher {
    let lastTotal = this.totalTokens();
    let lastAtMs = performance.now();
    return {
      snapshot: () => {
        const nowMs = performance.now();
        const total = this.totalTokens();
        const seconds = (nowMs - lastAtMs) / 1000;
        const tokensPerSecond = seconds > 0 ? Math.max(0, total - lastTotal) / seconds : 0;
        lastTotal = total;
        lastAtMs = nowMs;
        return { at: Date.now(), streams: this.streams(principal, nowMs), tokensPerSecond, ttftMs: this.ttftFigures() };
      },
    };
  }

  private count(stream: StreamWriter): void {
    this.endedTokens += stream.nextSeq;
    if (stream.firstTokenAtMs === undefined) return;
    this.ttft.add(performance.now(), stream.firstTokenAtMs - stream.createdAtMs);
  }

  private totalTokens(): number {
    let total = this.endedTokens;
    for (const { writer } of this.store.liveStreams()) total += writer.nextSeq;
    return total;
  }

  private streams(principal: Principal | undefined, nowMs: number): LiveStream[] {
    const mine = (owner: string | undefined) => !principal || principal.streams === 'all' || owner === principal.name;
    return this.store
      .liveStreams()
      .filter(({ writer }) => mine(writer.owner))
      .map(({ writer, readers }) => {
        const ageMs = Math.max(0, nowMs - writer.createdAtMs);
        return {
          id: writer.id,
          model: writer.model,
          principal: writer.owner ?? null,
          ageMs: Math.round(ageMs),
          tokens: writer.nextSeq,
          tokensPerSecond: ageMs > 0 ? Math.round((writer.nextSeq * 1000) / ageMs) : 0,
          readers,
          state: writer.firstTokenAtMs === undefined ? 'starting' : writer.producerPaused ? 'waiting for readers' : 'producing',
        };
      });
  }

  private ttftFigures(): LiveSnapshot['ttftMs'] {
    const sorted = this.ttft.since(performance.now() - TTFT_WINDOW_MS).sort();
    const round = (value: number | null) => (value === null ? null : Math.round(value * 10) / 10);
    return { p50: round(percentile(sorted, 0.5)), p99: round(percentile(sorted, 0.99)), count: sorted.length };
  }
}

/**
 * A ring of (when, ms) samples in two typed arrays: adding one allocates
 * nothing and moves nothing, however many streams end (an array spliced at
 * its cap moved all 10,000 samples on every stream's end).
 */
export class TtftSamples {
  private readonly atMs: Float64Array;
  private readonly ms: Float64Array;
  /** Index of the oldest sample. */
  private first = 0;
  private count = 0;

  constructor(private readonly capacity: number) {
    this.atMs = new Float64Array(capacity);
    this.ms = new Float64Array(capacity);
  }

  add(atMs: number, ms: number): void {
    const at = (this.first + this.count) % this.capacity;
    this.atMs[at] = atMs;
    this.ms[at] = ms;
    if (this.count < this.capacity) this.count++;
    else this.first = (this.first + 1) % this.capacity;
  }

  /** Drops the samples taken before sinceMs; the rest, oldest first. */
  since(sinceMs: number): Float64Array {
    while (this.count > 0 && this.atMs[this.first] < sinceMs) {
      this.first = (this.first + 1) % this.capacity;
      this.count--;
    }
    const samples = new Float64Array(this.count);
    for (let index = 0; index < this.count; index++) samples[index] = this.ms[(this.first + index) % this.capacity];
    return samples;
  }
}
