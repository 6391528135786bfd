import type { StreamFailure } from './status';
import type { PackedRun } from './packedLog';

/**
 * The boundary between the service and where streams live. Two stores pass
 * the same contract (test/contract): `memory`, this process's own maps, and
 * `redis`, a log shared by every replica. The service sees only these
 * interfaces: a writer for the producer it runs, views and readers for the
 * consumers it serves, and the store's lookups.
 */
export interface StreamStore {
  /** `memory` or `redis`. */
  readonly kind: StreamStoreKind;
  /** Whether streams outlive this process (a consumer may resume on another replica). */
  readonly shared: boolean;
  /** Whether the store can take calls now (false while Redis is unreachable); /readyz follows it. */
  readonly ready: boolean;
  /** Streams this process is producing now. */
  readonly activeCount: number;
  /** The streams this process is producing now, with how many of its own readers follow each (the live streams page). */
  liveStreams(): Array<{ writer: StreamWriter; readers: number }>;
  /** Where a shared store keeps the response cache's entries, so every replica answers from them; absent: each process keeps its own. */
  readonly sharedCache?: SharedCache;

  /**
   * Starts a stream produced here and returns its writer. A live stream with
   * the id is ALREADY_EXISTS; so is a finished one, unless
   * `replaceFinished` (a failed generation started again). Over capacity is
   * RESOURCE_EXHAUSTED; a store that cannot be reached is UNAVAILABLE.
   */
  create(options: CreateStreamOptions): Promise<StreamWriter>;

  /** A live or retained stream, wherever it is produced; undefined when there is none. */
  find(id: string): Promise<StreamView | undefined>;

  /**
   * Ends a live stream with the failure (a cancel), wherever its producer
   * runs: the producer is aborted, readers see the failure after the tokens
   * stored before it. Resolves true if this call ended it, false if it had
   * already ended; NOT_FOUND when there is no such stream.
   */
  stop(id: string, failure: StreamFailure): Promise<boolean>;

  /**
   * Continues a resumable published stream whose producer went away (here or
   * on another replica): the writer appends from the stream's next seq.
   * undefined when the stream is not live, not resumable, or not published;
   * ALREADY_EXISTS when its producer is still attached here; UNAVAILABLE
   * (retry later) when it may still be attached on another replica.
   */
  reopen(id: string): Promise<StreamWriter | undefined>;

  /** Ends every stream produced here with the failure (the end of a shutdown). */
  failAll(failure: StreamFailure): void;

  observe(observer: StreamObserver): void;

  /** Ends what the store runs in the background and closes its connections. */
  close(): Promise<void>;
}

export type StreamStoreKind = 'memory' | 'redis';

export interface CreateStreamOptions {
  /** Client-chosen id; a fresh one is made when absent. */
  id?: string;
  model: string;
  abandonPolicy: AbandonPolicy;
  /** Tokens in the prompt, when known; see countPromptTokens otherwise. Default 0. */
  promptTokens?: number;
  /**
   * Counts the prompt's tokens when the count is first needed: the end's
   * usage, when the producer does not report its own. Counting a long prompt
   * takes milliseconds of the event loop (16 KiB of prose about 1.3 ms), so it
   * is kept off the call's start and skipped when a model reports usage. On
   * the redis store the count reaches other replicas in the end's usage; a
   * stream whose producer is lost before its end reports 0 prompt tokens.
   */
  countPromptTokens?: () => number;
  /**
   * Identifies the request that started the stream, so a retry can attach to
   * it. A function computes it when it is needed: the memory store after the
   * turn (see afterTurn) or when first read, whichever comes first, keeping
   * then only the string; the redis store at once, since it writes it.
   */
  fingerprint?: Fingerprint;
  /** The principal creating the stream (undefined with auth off); others may be refused it (see core/principals.ts). */
  owner?: string;
  /** A published stream whose producer may come back (see StreamStore.reopen). */
  publishedResumable?: boolean;
  /** A finished stream with this id is replaced instead of ALREADY_EXISTS. */
  replaceFinished?: boolean;
}

/** A stream's fingerprint, or how to compute it (see CreateStreamOptions.fingerprint). */
export type Fingerprint = string | (() => string);

/** The fingerprint itself: computed now if it was given as a function. */
export function fingerprintValue(fingerprint: Fingerprint | undefined): string | undefined {
  return typeof fingerprint === 'function' ? fingerprint() : fingerprint;
}

/** What every view of a stream says about it. */
export interface StreamInfo {
  readonly id: string;
  /** Label of the model producing the tokens, for logs and metrics. */
  readonly model: string;
  /** Identifies the request that started the stream (generations only). */
  readonly fingerprint: string | undefined;
  /** The principal that created the stream; undefined with auth off. */
  readonly owner: string | undefined;
  readonly abandonPolicy: AbandonPolicy;
}

/** A stream as its consumers see it. */
export interface StreamView extends StreamInfo {
  /** Tokens readers can read now: the next seq the stream will give. */
  readonly nextSeq: number;
  /** How the stream ended, or undefined while it is live (as far as this view knows). */
  readonly end: StreamEnd | undefined;
  /**
   * Opens a reader at fromSeq. On a live stream fromSeq may lie past the
   * current end: the reader waits for that token. Past the end of a finished
   * stream is OUT_OF_RANGE.
   */
  openReader(fromSeq: number): StreamReader;
}

/** A consumer's position in a stream. */
export interface StreamReader {
  readonly stream: StreamView;
  /** The next sequence number this reader will take. */
  readonly pos: number;
  /** Whether close() was called. */
  readonly isClosed: boolean;
  /** Whether the stream has ended and this reader has taken everything before the end. */
  readonly atEnd: boolean;
  /** Takes up to maxTokens (and about maxBytes) waiting tokens without waiting; undefined when none are waiting. */
  read(maxTokens?: number, maxBytes?: number): TokenBatch | undefined;
  /** Resolves when tokens are waiting, the stream has ended, or the reader is closed. */
  wait(): Promise<void>;
  /** Detaches; may cancel the stream (see AbandonPolicy). Idempotent. */
  close(): void;
}

/** The producer's handle on a stream it produces. */
export interface StreamWriter extends StreamInfo {
  /** Aborted when the stream ends by a failure or cancel; the producer must stop then. */
  readonly signal: AbortSignal;
  /** Tokens appended so far: the seq the next appended token gets. */
  readonly nextSeq: number;
  /** UTF-8 bytes of the token text appended so far (limits.maxStreamBytes, streams.maxRetainedBytes). */
  readonly textBytes: number;
  /** How the stream ended (or is ending), or undefined while it is live. */
  readonly end: StreamEnd | undefined;
  /** Tokens in the prompt, reported in usage. */
  readonly promptTokens: number;
  /** When the stream was created (performance.now() clock). */
  readonly createdAtMs: number;
  /** When the first token was appended, for time-to-first-token. */
  readonly firstTokenAtMs: number | undefined;
  /** When the producer last made progress: appended, or was let go after a backpressure pause. */
  readonly lastProgressAtMs: number;
  /** Whether the producer is waiting (for readers to catch up, or for the store to take what it has). */
  readonly producerPaused: boolean;
  /** How many tokens may be appended before append() asks the producer to wait. */
  readonly room: number;
  /** Appends one token; a promise the producer must await when it must wait. Appending to an ended stream does nothing. */
  append(token: string): Promise<void> | undefined;
  /** Appends several tokens at once; see append(). */
  appendMany(tokens: readonly string[]): Promise<void> | undefined;
  /** Ends the stream normally. false if it had already ended. */
  finish(reason: 'stop' | 'length', usage?: Partial<Usage>): boolean;
  /** Ends the stream with a failure and aborts the producer. false if it had already ended. */
  fail(failure: StreamFailure, usage?: Partial<Usage>): boolean;
  /**
   * The producer went away without ending the stream. A resumable published
   * stream waits resumeGraceMs for a new producer (StreamStore.reopen, here
   * or on another replica), then fails with UNAVAILABLE; any other stream
   * fails with UNAVAILABLE at once.
   */
  detach(): void;
  /** Calls listener once the end is settled: stored, and what readers see. At once if it already is. */
  onEnd(listener: (end: StreamEnd) => void): void;
  /** The stream as the consumers of this process see it. */
  readonly view: StreamView;
}

/** The response cache's entries in a shared store: a stream id under a key, for a time. */
export interface SharedCache {
  cached(key: string): Promise<string | undefined>;
  cache(key: string, streamId: string, ttlMs: number): Promise<void>;
}

/** Observers of the streams this process produces (metrics, logs); the store knows nothing of either. */
export interface StreamObserver {
  started?(stream: StreamWriter): void;
  ended?(stream: StreamWriter, end: StreamEnd): void;
  /** This process stopped producing a stream it did not end: another replica took it over. */
  released?(stream: StreamWriter): void;
}

/** Why a stream ended. */
export type FinishReason = 'stop' | 'length' | 'cancelled' | 'error';

/** Token counts, as the model's tokenizer counts them. */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

/** How a stream ended: the reason, the usage, and for failures the status. */
export interface StreamEnd {
  reason: FinishReason;
  usage: Usage;
  /** Set when reason is 'cancelled' or 'error': the status consumers see. */
  failure?: StreamFailure;
}

/**
 * What happens when the last reader of an unfinished stream leaves:
 * - `cancel`: the stream is cancelled at once (a non-resumable generation);
 * - `grace`: it keeps producing for `resumeGraceMs`, then is cancelled unless
 *   a reader re-attached (a resumable generation);
 * - `keep`: nothing; its producer decides when it ends (Publish).
 */
export type AbandonPolicy = 'cancel' | 'grace' | 'keep';

/** A slice of the log handed to a reader. */
export interface TokenBatch {
  /** Sequence number of tokens[0]. */
  seq: number;
  tokens: string[];
  /** The same tokens as UTF-8 in the memory store's packed log, when they come from it (see PackedRun). */
  packed?: PackedRun;
}
