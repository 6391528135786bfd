import type { Logger } from 'pino';
import { invalidField, StatusCode, StreamFailure } from '../status';
import type { StreamReader, StreamView } from '../store';
import { type StreamEnd, type TokenBatch, pastTheEnd } from '../tokenStream';
import { CorruptEntry, decodeEntry, type LogEntry } from './codec';
import type { StreamKeys } from './keys';
import { type RedisLink, storeUnavailable } from './link';
import type { StreamMeta } from './meta';
import { READ } from './scripts';

/** The id names another stream now, or none: what this mirror read cannot go on. */
class Replaced extends Error {}

/** What a mirror needs from its store. */
export interface MirrorHost {
  readonly link: RedisLink;
  readonly logger: Logger;
  /** Tokens a mirror buffers ahead of its slowest reader. */
  readonly windowTokens: number;
  /** How often a mirror with readers of a live stream looks at the stream, to notice a lost producer, in ms. */
  readonly pollMs: number;
  /**
   * If a writer in this process produces the stream (it feeds the mirror
   * directly, each run once Redis has it, then its end): how many tokens it
   * has stored. Undefined when the stream is produced elsewhere, or its
   * writer here has stopped (ended, refused, moved).
   */
  storedHere(id: string): number | undefined;
  /** The stream's meta, after ending it if its producer is lost; undefined if it is gone. */
  inspect(id: string): Promise<StreamMeta | undefined>;
  /** The mirror's reader count changed (presence, backpressure, disposal). */
  readersChanged(mirror: RedisMirror): void;
  /** A reader took tokens: a producer here may go on. */
  readerAdvanced(mirror: RedisMirror): void;
  /** A corrupt log entry: the stream ends with INTERNAL everywhere. */
  corrupt(mirror: RedisMirror, error: CorruptEntry): void;
  listen(channel: string, listener: (message: string) => void): void;
  unlisten(channel: string, listener: (message: string) => void): void;
}

/** Entries asked for per XRANGE: each is a run of tokens, so this is a few windows' worth at most. */
const FETCH_ENTRIES = 32;

/**
 * What the readers of one stream in this process read from, on the redis
 * store: the part of the stream's log they still need, fetched from Redis
 * (or handed over by this process's own writer the moment Redis has
 * acknowledged it), never a token Redis does not have. One per stream with
 * readers here, whichever replica produces it.
 *
 * Memory is bounded like the memory store's window: tokens are fetched only
 * while the slowest reader is less than a window behind what is buffered,
 * and tokens every reader has passed are dropped. A reader that opens below
 * what is buffered makes the mirror fetch again from there.
 */
export class RedisMirror implements StreamView {
  readonly id: string;
  readonly model: string;
  readonly fingerprint: string | undefined;
  readonly owner: string | undefined;
  readonly abandonPolicy: StreamMeta['abandonPolicy'];
  /** Which creation of the id this mirror reads ("" when it does not know). */
  private readonly incarnation: string;
  /** Seq of tokens[0]. */
  private base = 0;
  private tokens: string[] = [];
  /** The next seq Redis is known to have (from notifications, the writer, or a look at the meta). */
  private known: number;
  /** The end, once fetched after every token before it: what readers see. */
  private settled: { seq: number; end: StreamEnd } | undefined;
  /** The last entry fetched, and the seq after it: where XRANGE goes on. */
  private cursor: { id: string; next: number } | undefined;
  /** Whether the log has been read since the buffer last started over (until then, what Redis has is unknown). */
  private fetchedOnce = false;
  private readonly readers = new Set<MirrorReader>();
  private pulling: Promise<void> | undefined;
  private pullAgain = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  private readonly onMessage = (message: string) => this.notified(message);

  constructor(
    private readonly host: MirrorHost,
    private readonly keys: StreamKeys,
    meta: StreamMeta,
  ) {
    this.id = meta.id;
    this.model = meta.model;
    this.fingerprint = meta.fingerprint;
    this.owner = meta.owner;
    this.abandonPolicy = meta.abandonPolicy;
    this.known = meta.nextSeq;
    this.incarnation = meta.incarnation;
    host.listen(keys.channel, this.onMessage);
  }

  get nextSeq(): number {
    return this.settled ? this.settled.seq : Math.max(this.known, this.bufferEnd);
  }

  get end(): StreamEnd | undefined {
    return this.settled?.end;
  }

  get readerCount(): number {
    return this.readers.size;
  }

  /** The slowest reader's position; undefined without readers. */
  get slowestPos(): number | undefined {
    let slowest: number | undefined;
    for (const reader of this.readers) if (slowest === undefined || reader.pos < slowest) slowest = reader.pos;
    return slowest;
  }

  private get bufferEnd(): number {
    return this.base + this.tokens.length;
  }

  openReader(fromSeq: number): StreamReader {
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 0) {
      throw invalidField('from_seq', `must be a non-negative integer, got ${fromSeq}`);
    }
    if (this.settled && !this.settled.end.failure && fromSeq > this.settled.seq) throw pastTheEnd(this, fromSeq);
    if ((this.readers.size === 0 && this.tokens.length === 0 && !this.settled) || fromSeq < this.base) {
      // The first reader, or one below what is buffered: fetch from there (readers already here wait the moment it takes).
      this.base = fromSeq;
      this.tokens = [];
      this.cursor = undefined;
      // Produced here, with nothing stored from fromSeq on (a Generate's own reader, opened as its stream starts):
      // the writer hands over every run it stores from now, so Redis has nothing to read yet.
      const stored = this.host.storedHere(this.id);
      this.fetchedOnce = stored !== undefined && stored <= fromSeq;
    }
    const reader = new MirrorReader(this, fromSeq);
    this.readers.add(reader);
    this.host.readersChanged(this);
    this.schedulePoll();
    this.pull();
    return reader;
  }

  /**
   * Tokens this process's writer just stored, seq first: taken when they
   * continue what is buffered, else left for the next fetch.
   */
  offer(seq: number, tokens: readonly string[]): void {
    if (this.disposed || this.settled) return;
    this.known = Math.max(this.known, seq + tokens.length);
    if (seq <= this.bufferEnd && seq + tokens.length > this.bufferEnd) {
      const fresh = tokens.slice(this.bufferEnd - seq);
      for (const token of fresh) this.tokens.push(token);
      this.wakeReaders();
    } else if (seq > this.bufferEnd) {
      this.pull();
    }
  }

  /** The end this process's writer just stored after every token. */
  offerEnd(seq: number, end: StreamEnd): void {
    if (this.disposed || this.settled) return;
    if (seq === this.bufferEnd) this.settle(seq, end);
    else this.pull();
  }

  /** Ends what the readers see with a failure that is not in the log (Redis is unreachable): they get what they read, then this. */
  fail(failure: StreamFailure): void {
    if (this.settled) return;
    this.settle(this.bufferEnd, {
      reason: failure.code === StatusCode.CANCELLED ? 'cancelled' : 'error',
      usage: { promptTokens: 0, completionTokens: this.bufferEnd },
      failure,
    });
    this.dispose();
  }

  /** Fetches whatever Redis has that the readers have not seen (after the writer here went away). */
  resync(): void {
    this.fetchedOnce = false;
    this.pull();
  }

  /** @internal */
  readerClosed(reader: MirrorReader): void {
    if (!this.readers.delete(reader)) return;
    this.host.readersChanged(this);
    if (this.readers.size === 0) this.dispose();
    else this.compact();
  }

  /** @internal A reader took tokens. */
  readerAdvanced(): void {
    this.compact();
    this.host.readerAdvanced(this);
    this.pull();
  }

  /** @internal */
  slice(from: number, maxTokens: number, maxBytes: number): string[] {
    const start = from - this.base;
    const available = Math.min(this.tokens.length - start, maxTokens);
    if (available <= 0) return [];
    let end = start;
    let bytes = 0;
    while (end < start + available) {
      bytes += this.tokens[end].length;
      if (bytes > maxBytes && end > start) break;
      end++;
    }
    return this.tokens.slice(start, end);
  }

  /** @internal */
  isBuffered(pos: number): boolean {
    return pos >= this.base && pos < this.bufferEnd;
  }

  /** @internal */
  get settledEnd(): { seq: number; end: StreamEnd } | undefined {
    return this.settled;
  }

  /** Asks for more of the log when a reader needs it; one fetch at a time, looping while there is more to want. */
  pull(): void {
    if (this.pulling) {
      this.pullAgain = true;
      return;
    }
    if (!this.wanted()) return;
    this.pulling = this.pullLoop().finally(() => {
      this.pulling = undefined;
      if (this.pullAgain) {
        this.pullAgain = false;
        this.pull();
      }
    });
  }

  private wanted(): boolean {
    if (this.disposed || this.readers.size === 0) return false;
    if (this.settled && this.bufferEnd >= this.settled.seq) return false; // everything up to the end is here
    const slowest = this.slowestPos ?? this.bufferEnd;
    if (this.bufferEnd - slowest >= this.host.windowTokens) return false; // a window ahead of the slowest reader is enough
    return !this.fetchedOnce || this.bufferEnd < this.known || this.endExpected || this.settled !== undefined;
  }

  /** The end was announced (or seen in the meta) but not fetched yet. */
  private endExpected = false;

  private async pullLoop(): Promise<void> {
    let emptyLooks = 0;
    try {
      while (this.wanted()) {
        this.pullAgain = false;
        const entries = await this.fetch();
        if (this.disposed) return;
        this.fetchedOnce = true;
        // Decoded one by one: the readers get every good entry before a corrupt one.
        for (const entry of entries) this.ingest(decodeEntry(entry));
        if (entries.length > 0) {
          emptyLooks = 0;
          continue;
        }
        if (this.bufferEnd >= this.known && !this.endExpected && !this.settled) return; // caught up: wait for news
        // Announced but not readable yet (a notification can outrun the reply that stored it): look again shortly.
        if (++emptyLooks > 40) throw new Error(`the log has nothing after seq ${this.bufferEnd}, though more was announced`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    } catch (error) {
      if (error instanceof Replaced) {
        this.fail(new StreamFailure(StatusCode.UNAVAILABLE, error.message));
        return;
      }
      if (error instanceof CorruptEntry) {
        this.host.corrupt(this, error);
        this.fail(new StreamFailure(StatusCode.INTERNAL, `stream ${this.id}: ${error.message}`));
        return;
      }
      this.fail(storeUnavailable(error));
    }
  }

  /**
   * The next entries after what is buffered, as Redis returns them: after
   * the last entry read, or from the run that holds bufferEnd. One script, so
   * the check that the id still names the stream this mirror started on (not
   * a new one that reused it after it ended) and the read are one step.
   */
  private async fetch(): Promise<unknown[]> {
    const cursor = this.cursor && this.cursor.next === this.bufferEnd ? this.cursor.id : '';
    const reply = (await this.host.link.run(
      READ,
      [this.keys.meta, this.keys.log],
      [this.incarnation, cursor, this.bufferEnd, FETCH_ENTRIES],
    )) as unknown[];
    if (reply[0] === 'replaced') throw new Replaced(`stream ${this.id} ended and its id was reused before this replica read its end`);
    if (reply[0] === 'gone') throw new Replaced(`stream ${this.id} is gone from the stream log`);
    return reply[1] as unknown[];
  }

  private ingest(entry: LogEntry): void {
    if (entry.kind === 'end' && this.settled) {
      this.cursor = { id: entry.id, next: entry.seq };
      return;
    }
    if (entry.kind === 'end') {
      if (entry.seq > this.bufferEnd)
        throw new CorruptEntry(entry.id, `the end is at seq ${entry.seq}, but the tokens stop at ${this.bufferEnd}`);
      this.cursor = { id: entry.id, next: entry.seq };
      this.settle(entry.seq, entry.end);
      return;
    }
    const after = entry.seq + entry.tokens.length;
    if (entry.seq > this.bufferEnd)
      throw new CorruptEntry(entry.id, `it starts at seq ${entry.seq}, after the tokens stop at ${this.bufferEnd}`);
    if (after > this.bufferEnd) {
      for (const token of entry.tokens.slice(this.bufferEnd - entry.seq)) this.tokens.push(token);
      this.known = Math.max(this.known, after);
      this.wakeReaders();
    }
    this.cursor = { id: entry.id, next: Math.max(after, this.bufferEnd) };
  }

  private settle(seq: number, end: StreamEnd): void {
    if (this.settled) return;
    this.settled = { seq, end };
    this.endExpected = false;
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    this.wakeReaders();
  }

  private notified(message: string): void {
    if (this.disposed || this.settled) return;
    const kind = message[0];
    if (kind === 't') {
      this.known = Math.max(this.known, Number(message.slice(1)) || 0);
      if (this.host.storedHere(this.id) === undefined) this.pull();
    } else if (kind === 'e') {
      this.endExpected = true;
      this.pull();
    } else if (kind === 'x') {
      this.pull();
    }
  }

  /** While it has readers of a live stream produced elsewhere, the mirror looks at it now and then: a dead producer is noticed. */
  private schedulePoll(): void {
    if (this.pollTimer || this.settled || this.disposed) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      if (this.disposed || this.settled || this.readers.size === 0) return;
      if (this.host.storedHere(this.id) !== undefined) return this.schedulePoll();
      this.host.inspect(this.id).then(
        (meta) => {
          if (!meta) return this.fail(new StreamFailure(StatusCode.UNAVAILABLE, `stream ${this.id} is gone from the stream log`));
          if (this.incarnation && meta.incarnation !== this.incarnation) {
            return this.fail(
              new StreamFailure(StatusCode.UNAVAILABLE, `stream ${this.id} ended and its id was reused before this replica read its end`),
            );
          }
          this.known = Math.max(this.known, meta.nextSeq);
          if (!meta.live) this.endExpected = true;
          this.pull();
          this.schedulePoll();
        },
        (error: unknown) => this.fail(storeUnavailable(error)),
      );
    }, this.host.pollMs);
    this.pollTimer.unref();
  }

  /** Drops tokens every reader has passed, once they are more than a window's worth. */
  private compact(): void {
    const slowest = this.slowestPos;
    if (slowest === undefined) return;
    const drop = Math.min(slowest - this.base, this.tokens.length);
    if (drop >= this.host.windowTokens) {
      this.tokens = this.tokens.slice(drop);
      this.base += drop;
    }
  }

  private wakeReaders(): void {
    for (const reader of this.readers) reader.wake();
  }

  private dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.pollTimer);
    this.host.unlisten(this.keys.channel, this.onMessage);
    this.host.readersChanged(this);
    this.wakeReaders();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }
}

/** A reader of a mirror: the same contract as a memory stream's reader. */
class MirrorReader implements StreamReader {
  private waiter: (() => void) | undefined;
  private waiting: Promise<void> | undefined;
  private closed = false;

  constructor(
    readonly stream: RedisMirror,
    public pos: number,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  get atEnd(): boolean {
    const settled = this.stream.settledEnd;
    return settled !== undefined && this.pos >= settled.seq;
  }

  read(maxTokens = Infinity, maxBytes = Infinity): TokenBatch | undefined {
    if (this.closed || !this.stream.isBuffered(this.pos)) return undefined;
    const seq = this.pos;
    const tokens = this.stream.slice(seq, maxTokens, maxBytes);
    if (tokens.length === 0) return undefined;
    this.pos += tokens.length;
    this.stream.readerAdvanced();
    return { seq, tokens };
  }

  wait(): Promise<void> {
    if (this.closed || this.stream.isBuffered(this.pos) || this.atEnd || this.stream.isDisposed) return Promise.resolve();
    this.waiting ??= new Promise<void>((resolve) => (this.waiter = resolve));
    return this.waiting;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wake();
    this.stream.readerClosed(this);
  }

  /** @internal */
  wake(): void {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      this.waiting = undefined;
      waiter();
    }
  }
}
