import { afterTurn } from '../afterTurn';
import { PackedLog, type PackedRun } from './packedLog';
import { StatusCode, StreamFailure, fieldFailure, invalidField } from './status';
import {
  type AbandonPolicy,
  type FinishReason,
  type Fingerprint,
  type StreamReader as Reader,
  type StreamEnd,
  type StreamView,
  type StreamWriter,
  type TokenBatch,
  type Usage,
  fingerprintValue,
} from './store';

export type { AbandonPolicy, FinishReason, StreamEnd, TokenBatch, Usage } from './store';

export interface TokenStreamOptions {
  id: string;
  /** Label of the model producing the tokens, for logs and metrics. */
  model: string;
  /** Most tokens the producer may run ahead of the slowest live reader before append() makes it wait. */
  windowTokens: number;
  abandonPolicy: AbandonPolicy;
  /** For the `grace` policy: how long an abandoned stream keeps producing. */
  resumeGraceMs: number;
  /** Tokens in the prompt, reported in usage. Default 0. */
  promptTokens?: number;
  /** Counts the prompt's tokens on first use instead (see CreateStreamOptions.countPromptTokens). */
  countPromptTokens?: () => number;
  /** Identifies the request that started the stream, so a retry can attach to it (see CreateStreamOptions.fingerprint). */
  fingerprint?: Fingerprint;
  owner?: string;
  /** A published stream whose producer may come back within resumeGraceMs (see detach()). */
  publishedResumable?: boolean;
}

/**
 * A stream's prompt token count, or how to count it: counted the first time
 * it is read (for the end's usage), never before. Once the end is settled,
 * its count stands (the producer's own, when it reported one) and the
 * counter, which holds the prompt, is let go. Both stores keep one.
 */
export class PromptTokens {
  constructor(private value: number | (() => number)) {}

  get count(): number {
    if (typeof this.value === 'function') this.value = this.value();
    return this.value;
  }

  /** The count if it is known already, without counting. */
  get known(): number | undefined {
    return typeof this.value === 'number' ? this.value : undefined;
  }

  settle(end: StreamEnd): void {
    if (typeof this.value === 'function') this.value = end.usage.promptTokens;
  }
}

/**
 * One token stream held in this process (the memory store): an append-only
 * log of tokens numbered from 0, ended once by a finish reason or a failure,
 * read by any number of readers from any sequence number. The producer's
 * append() returns a promise when the slowest live reader is a full window
 * behind, and the producer awaits it: that is the whole of backpressure. It
 * is its own writer and its own view. The log knows nothing of gRPC.
 */
export class TokenStream implements StreamWriter, StreamView {
  readonly id: string;
  readonly model: string;
  readonly owner: string | undefined;
  readonly abandonPolicy: AbandonPolicy;
  readonly publishedResumable: boolean;
  readonly createdAtMs = performance.now();
  /** When the first token was appended (performance.now() clock), for time-to-first-token. */
  firstTokenAtMs: number | undefined;
  /** When the producer last made progress: appended, or was let go after a backpressure pause. */
  lastProgressAtMs = performance.now();

  private readonly log = new PackedLog();
  private readonly readers = new Set<StreamReader>();
  private readonly controller = new AbortController();
  private readonly endListeners: Array<(end: StreamEnd) => void> = [];
  private readonly windowTokens: number;
  private readonly resumeGraceMs: number;
  /** A published stream's producer is attached (it is from creation until detach()). */
  private producerAttached = true;
  private producerGraceTimer: NodeJS.Timeout | undefined;
  private producerWait: Promise<void> | undefined;
  private producerWake: (() => void) | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private endState: StreamEnd | undefined;
  private readonly prompt: PromptTokens;
  private fingerprintOf: Fingerprint | undefined;

  constructor(options: TokenStreamOptions) {
    if (!(options.windowTokens >= 1)) throw new RangeError('windowTokens must be at least 1');
    this.id = options.id;
    this.model = options.model;
    this.fingerprintOf = options.fingerprint;
    // Off the first token's path, and soon: until then the function holds the whole request.
    if (typeof options.fingerprint === 'function') afterTurn(() => this.fingerprint);
    this.owner = options.owner;
    this.windowTokens = options.windowTokens;
    this.abandonPolicy = options.abandonPolicy;
    this.publishedResumable = options.publishedResumable ?? false;
    this.resumeGraceMs = options.resumeGraceMs;
    this.prompt = new PromptTokens(options.promptTokens ?? options.countPromptTokens ?? 0);
  }

  /** Tokens in the prompt, counted the first time they are asked for when the stream was given a counter. */
  get promptTokens(): number {
    return this.prompt.count;
  }

  /** Identifies the request that started the stream; computed here on first read when it was given as a function. */
  get fingerprint(): string | undefined {
    const fingerprint = fingerprintValue(this.fingerprintOf);
    this.fingerprintOf = fingerprint;
    return fingerprint;
  }

  get view(): StreamView {
    return this;
  }

  /** Whether a published stream's producer is attached (see detach() and reattach()). */
  get attached(): boolean {
    return this.producerAttached;
  }

  /**
   * The producer of a resumable published stream went away without ending
   * it: the stream waits resumeGraceMs for a new producer (reattach()), then
   * fails with UNAVAILABLE. A stream that is not resumable fails at once.
   */
  detach(): void {
    if (this.endState || !this.producerAttached) return;
    if (!this.publishedResumable) {
      this.fail(
        new StreamFailure(StatusCode.UNAVAILABLE, `the publisher of stream ${this.id} went away before half-closing`, {
          reason: 'PRODUCER_LOST',
        }),
      );
      return;
    }
    this.producerAttached = false;
    this.producerGraceTimer = setTimeout(() => {
      this.fail(
        new StreamFailure(
          StatusCode.UNAVAILABLE,
          `the publisher of stream ${this.id} went away and did not resume within ${this.resumeGraceMs} ms`,
          { reason: 'PRODUCER_LOST' },
        ),
      );
    }, this.resumeGraceMs);
    this.producerGraceTimer.unref();
  }

  /** A new producer continues a detached resumable stream; false when it is not waiting for one. */
  reattach(): boolean {
    if (this.endState || this.producerAttached || !this.publishedResumable) return false;
    clearTimeout(this.producerGraceTimer);
    this.producerGraceTimer = undefined;
    this.producerAttached = true;
    return true;
  }

  /** Aborted when the stream ends by a failure or cancel; the producer must stop then. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** UTF-8 bytes of the token text in the log. */
  get textBytes(): number {
    return this.log.textBytes;
  }

  /** The sequence number the next token will get: the number of tokens so far. */
  get nextSeq(): number {
    return this.log.length;
  }

  /** How the stream ended, or undefined while it is live. */
  get end(): StreamEnd | undefined {
    return this.endState;
  }

  get readerCount(): number {
    return this.readers.size;
  }

  /** Tokens appended that the slowest live reader has not taken yet (0 with no readers). */
  get bufferedTokens(): number {
    const slowest = this.slowestReaderPos();
    return slowest === undefined ? 0 : this.log.length - slowest;
  }

  /**
   * How many tokens the producer may append before append() asks it to wait:
   * the window less what the slowest live reader has not taken (Infinity
   * with no readers, 0 once it must wait).
   */
  get room(): number {
    const slowest = this.slowestReaderPos();
    return slowest === undefined ? Infinity : Math.max(0, this.windowTokens - (this.log.length - slowest));
  }

  /** Whether the producer is waiting for readers to catch up. */
  get producerPaused(): boolean {
    return this.producerWait !== undefined;
  }

  /**
   * Appends one token. Returns a promise the producer must await when the
   * slowest live reader is a window behind; undefined when it may go on.
   * Appending to an ended stream does nothing (the producer sees `signal`).
   */
  append(token: string): Promise<void> | undefined {
    if (this.endState) return undefined;
    this.log.push(token);
    this.lastProgressAtMs = performance.now();
    this.firstTokenAtMs ??= this.lastProgressAtMs;
    return this.afterAppend();
  }

  /** Appends several tokens at once; see append(). */
  appendMany(tokens: readonly string[]): Promise<void> | undefined {
    if (this.endState || tokens.length === 0) return undefined;
    this.log.append(tokens);
    this.lastProgressAtMs = performance.now();
    this.firstTokenAtMs ??= this.lastProgressAtMs;
    return this.afterAppend();
  }

  /** Ends the stream normally. Returns false if it had already ended. */
  finish(reason: 'stop' | 'length', usage?: Partial<Usage>): boolean {
    if (this.endState) return false;
    this.settle({ reason, usage: this.usage(usage) });
    return true;
  }

  /**
   * Ends the stream with a failure (CANCELLED for a cancel) and aborts the
   * producer. Tokens already in the log stay readable. Returns false if it had
   * already ended.
   */
  fail(failure: StreamFailure, usage?: Partial<Usage>): boolean {
    if (this.endState) return false;
    const reason: FinishReason = failure.code === StatusCode.CANCELLED ? 'cancelled' : 'error';
    this.settle({ reason, usage: this.usage(usage), failure });
    this.controller.abort(failure);
    return true;
  }

  /** Calls listener once when the stream ends (at once if it already has). */
  onEnd(listener: (end: StreamEnd) => void): void {
    if (this.endState) listener(this.endState);
    else this.endListeners.push(listener);
  }

  /**
   * Opens a reader at fromSeq. On a live stream fromSeq may lie past the
   * current end: the reader waits for that token (and is told OUT_OF_RANGE if
   * the stream ends before it). Past the end of a finished stream is
   * OUT_OF_RANGE at once.
   */
  openReader(fromSeq: number): StreamReader {
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 0) {
      throw invalidField('from_seq', `must be a non-negative integer, got ${fromSeq}`);
    }
    if (this.endState && fromSeq > this.log.length) throw pastTheEnd(this, fromSeq);
    const reader = new StreamReader(this, fromSeq);
    this.readers.add(reader);
    if (this.graceTimer) {
      clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
    }
    return reader;
  }

  /** @internal Used by StreamReader: up to maxTokens tokens from `from` (and up to maxBytes of text, at least one token), in one page. */
  run(from: number, maxTokens: number, maxBytes: number): PackedRun | undefined {
    return this.log.run(from, maxTokens, maxBytes);
  }

  /** @internal A reader advanced: the producer may go on. */
  readerAdvanced(): void {
    if (this.producerWake && !this.mustWait()) this.wakeProducer();
  }

  /** @internal A reader closed. */
  readerClosed(reader: StreamReader): void {
    if (!this.readers.delete(reader)) return;
    if (this.producerWake && !this.mustWait()) this.wakeProducer();
    if (this.readers.size > 0 || this.endState) return;
    if (this.abandonPolicy === 'cancel') {
      this.fail(
        new StreamFailure(StatusCode.CANCELLED, `stream ${this.id} cancelled: its last consumer went away`, {
          reason: 'STREAM_CANCELLED',
          cancelledBy: 'abandoned',
        }),
      );
    } else if (this.abandonPolicy === 'grace') {
      this.graceTimer = setTimeout(() => {
        this.graceTimer = undefined;
        this.fail(
          new StreamFailure(StatusCode.CANCELLED, `stream ${this.id} cancelled: no consumer re-attached within ${this.resumeGraceMs} ms`, {
            reason: 'STREAM_CANCELLED',
            cancelledBy: 'abandoned',
          }),
        );
      }, this.resumeGraceMs);
      this.graceTimer.unref();
    }
  }

  private afterAppend(): Promise<void> | undefined {
    for (const reader of this.readers) reader.wake();
    if (!this.mustWait()) return undefined;
    if (!this.producerWait) {
      this.producerWait = new Promise<void>((resolve) => (this.producerWake = resolve));
    }
    return this.producerWait;
  }

  private mustWait(): boolean {
    return this.room === 0;
  }

  private slowestReaderPos(): number | undefined {
    let slowest: number | undefined;
    for (const reader of this.readers) {
      if (slowest === undefined || reader.pos < slowest) slowest = reader.pos;
    }
    return slowest;
  }

  private wakeProducer(): void {
    const wake = this.producerWake;
    if (wake) this.lastProgressAtMs = performance.now();
    this.producerWait = undefined;
    this.producerWake = undefined;
    wake?.();
  }

  private usage(usage: Partial<Usage> | undefined): Usage {
    return {
      promptTokens: usage?.promptTokens ?? this.promptTokens,
      completionTokens: usage?.completionTokens ?? this.log.length,
    };
  }

  private settle(end: StreamEnd): void {
    this.endState = end;
    this.prompt.settle(end);
    if (this.graceTimer) {
      clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
    }
    clearTimeout(this.producerGraceTimer);
    this.wakeProducer();
    for (const reader of this.readers) reader.wake();
    const listeners = this.endListeners.splice(0);
    for (const listener of listeners) listener(end);
  }
}

/** OUT_OF_RANGE for a reader at fromSeq of a stream that ended before it. */
export function pastTheEnd(stream: StreamView, fromSeq: number): StreamFailure {
  return fieldFailure(
    StatusCode.OUT_OF_RANGE,
    'from_seq',
    `${fromSeq} is past the end of finished stream ${stream.id}, which has ${stream.nextSeq} tokens`,
    { reason: 'SEQ_OUT_OF_RANGE' },
  );
}

/**
 * A reader's position in one stream. read() takes what is there without
 * waiting, so a consumer that falls behind naturally gets several tokens in
 * one batch; wait() resolves when there is something new to read.
 */
export class StreamReader implements Reader {
  private waiter: (() => void) | undefined;
  private waiting: Promise<void> | undefined;
  private closed = false;

  /** @internal Use TokenStream.openReader. */
  constructor(
    readonly stream: TokenStream,
    /** The next sequence number this reader will take. */
    public pos: number,
  ) {}

  /** Whether close() was called: the reader reads nothing more. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Whether every token has been read and the stream has ended (see stream.end). */
  get atEnd(): boolean {
    return this.stream.end !== undefined && this.pos >= this.stream.nextSeq;
  }

  /** Takes up to maxTokens waiting tokens and up to maxBytes of their UTF-8 (one token always), within one page of the log; undefined when none are waiting. */
  read(maxTokens = Infinity, maxBytes = Infinity): TokenBatch | undefined {
    if (this.closed || this.pos >= this.stream.nextSeq) return undefined;
    const seq = this.pos;
    const run = this.stream.run(seq, maxTokens, maxBytes);
    if (run === undefined) return undefined;
    this.pos += run.count;
    this.stream.readerAdvanced();
    return new PackedBatch(seq, run);
  }

  /** Resolves when tokens are waiting, the stream has ended, or the reader is closed. */
  wait(): Promise<void> {
    if (this.closed || this.pos < this.stream.nextSeq || this.stream.end) return Promise.resolve();
    this.waiting ??= new Promise<void>((resolve) => (this.waiter = resolve));
    return this.waiting;
  }

  /** Detaches from the stream; may cancel it (see AbandonPolicy). Idempotent. */
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

/** A batch read from the packed log: the gRPC edge encodes `packed` directly; `tokens` decodes it on first use. */
class PackedBatch implements TokenBatch {
  constructor(
    readonly seq: number,
    readonly packed: PackedRun,
  ) {}

  get tokens(): string[] {
    return this.packed.strings();
  }
}
