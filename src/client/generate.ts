import { randomUUID } from 'node:crypto';
import { type CallOptions, type ClientReadableStream, Metadata, status as Status } from '@grpc/grpc-js';
import { type DataServiceClient, FinishReason, GenerateRequest, type TokenChunk } from '../gen/tokenrelay/v1/data_service';
import { type BackoffOptions, RetryBudget, sleep } from '../common/backoff';
import { MessageQueue } from './chunkQueue';
import { TokenRelayError, isTransient } from './errors';

/** How long a call may take to end after the server accepted its Cancel, before it is reset anyway. */
const STOP_GRACE_MS = 10_000;

/**
 * Ends a call the caller walked away from. With a way to stop the stream on
 * the server (a Cancel), the server ends the call with a status and no
 * RST_STREAM crosses the wire, so a storm of Stop presses cannot trip the
 * server's rapid-reset protection. The call is reset only if the Cancel
 * fails, or if the server accepted it and still did not end the call.
 */
function stopCall(
  call: ClientReadableStream<TokenChunk>,
  queue: MessageQueue<TokenChunk> | undefined,
  stopOnServer?: () => Promise<unknown>,
): void {
  if (!stopOnServer) {
    call.cancel();
    return;
  }
  queue?.discard();
  let ended = false;
  let reset: NodeJS.Timeout | undefined;
  const onEnd = () => {
    ended = true;
    clearTimeout(reset);
  };
  call.on('status', onEnd);
  call.on('error', onEnd);
  stopOnServer().then(
    () => {
      if (ended) return;
      reset = setTimeout(() => call.cancel(), STOP_GRACE_MS);
      reset.unref();
    },
    () => call.cancel(),
  );
}

export interface StreamOptions {
  /** Aborting it stops the stream: the call is cancelled and so is the stream on the server. */
  signal?: AbortSignal;
  /** Deadline for the whole stream, reconnects included, in ms from now. Default: the client's (10 min). */
  deadlineMs?: number;
  /**
   * Reconnect after a lost connection and resume from the next sequence
   * number, so the loop sees each token exactly once. Default true; `false`
   * turns it off, an object tunes the backoff.
   */
  resume?: boolean | BackoffOptions;
  /**
   * A stream that sends nothing (not even a heartbeat) for this long is taken
   * for dead and resumed, in ms. Default 45000: three of the server's 15 s
   * heartbeats.
   */
  idleTimeoutMs?: number;
  /** Extra request metadata (e.g. authorization). */
  metadata?: Metadata;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 45_000;

/** What opens one attempt of a stream: Generate first, Subscribe from `fromSeq` on a resume. */
type Open = (fromSeq: number, delivered: boolean, options: CallOptions) => ClientReadableStream<TokenChunk>;

/**
 * A token stream as an async iterable that survives the connection: each
 * token exactly once, in order, heartbeats hidden. Breaking out of the loop
 * or aborting the signal cancels the call, and `onStop` (for a stream the
 * caller started: a Cancel of it on the server).
 */
export class ResumableStream implements AsyncIterable<TokenChunk> {
  /** Every token delivered so far is below this sequence number. */
  nextSeq = 0;
  /** Reconnects made so far. */
  reconnects = 0;

  constructor(
    /** The stream's id (chosen by the SDK when the request had none, so it can be resumed). */
    readonly streamId: string,
    private readonly open: Open,
    private readonly options: StreamOptions,
    private readonly onStop: ((streamId: string) => Promise<unknown>) | undefined,
    /** The error for a call that reached no server while the client never has: such a first call fails at once. */
    private readonly firstContact: (error: unknown) => TokenRelayError | undefined = () => undefined,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<TokenChunk, void, undefined> {
    const { signal } = this.options;
    const resume = this.options.resume !== false;
    const deadline = this.options.deadlineMs === undefined ? undefined : Date.now() + this.options.deadlineMs;
    if (deadline !== undefined && this.options.deadlineMs! <= 0) {
      throw new TokenRelayError(Status.DEADLINE_EXCEEDED, `deadlineMs: ${this.options.deadlineMs} ms has already passed`);
    }
    const idleTimeoutMs = this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    let finished = false;
    let failed = false;
    const budget = new RetryBudget(typeof this.options.resume === 'object' ? this.options.resume : {}, deadline);
    let delivered = false;
    let call: ClientReadableStream<TokenChunk> | undefined;
    let queue: MessageQueue<TokenChunk> | undefined;
    // Wake the loop; the finally below stops the call (and the stream) properly.
    const onAbort = () => (queue ? queue.abort(signal?.reason) : call?.cancel());
    signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        call = this.open(this.nextSeq, delivered, deadline === undefined ? {} : { deadline });
        let stalled = false;
        let idleTimer: NodeJS.Timeout | undefined;
        const current = call;
        const armIdle = () => {
          clearTimeout(idleTimer);
          idleTimer = setTimeout(() => {
            stalled = true;
            current.cancel();
          }, idleTimeoutMs);
        };
        queue = new MessageQueue<TokenChunk>(call);
        try {
          armIdle();
          for (let raw = await queue.next(); raw !== undefined; raw = await queue.next()) {
            armIdle();
            const chunk = this.trim(raw);
            if (!chunk) continue;
            delivered = true;
            budget.reset();
            this.nextSeq = chunk.seq + chunk.tokens.length;
            if (chunk.finishReason !== FinishReason.FINISH_REASON_UNSPECIFIED) finished = true;
            yield chunk;
            if (finished) return;
          }
          // The server always ends a stream with a final chunk or a status; an
          // OK without one means the call was cut short somewhere.
          throw new TokenRelayError(Status.UNAVAILABLE, 'the stream ended without its final chunk');
        } catch (error) {
          if (signal?.aborted) throw signal.reason;
          // Resuming is for a stream that was flowing; a first call that reached no server fails at once.
          const unreachable = !delivered && this.reconnects === 0 ? this.firstContact(error) : undefined;
          if (unreachable) throw unreachable;
          const transient = stalled || isTransient(error);
          if (!resume || !transient) throw this.explain(error);
          const delayMs = budget.next();
          if (delayMs === undefined) {
            throw new TokenRelayError(
              Status.UNAVAILABLE,
              `stream ${this.streamId} lost at seq ${this.nextSeq} and not resumed after ${budget.retries} retries: ${TokenRelayError.from(error).details}`,
              { cause: error },
            );
          }
          this.reconnects++;
          await sleep(delayMs, signal);
        } finally {
          clearTimeout(idleTimer);
        }
      }
    } catch (error) {
      failed = !signal?.aborted; // an abort still stops the stream on the server; a failure already ended the call
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (!finished && !failed && call) stopCall(call, queue, this.onStop && (() => this.onStop!(this.streamId)));
    }
  }

  /** Drops tokens already delivered (a resume may overlap) and heartbeats; a gap is a bug worth failing loudly. */
  private trim(chunk: TokenChunk): TokenChunk | undefined {
    if (chunk.heartbeat) return undefined;
    if (chunk.seq > this.nextSeq) {
      throw new TokenRelayError(Status.DATA_LOSS, `stream ${this.streamId}: got seq ${chunk.seq}, expected ${this.nextSeq}`);
    }
    if (chunk.seq === this.nextSeq) return chunk;
    const skip = this.nextSeq - chunk.seq;
    if (skip >= chunk.tokens.length && chunk.finishReason === 0) return undefined;
    return { ...chunk, seq: this.nextSeq, tokens: chunk.tokens.slice(skip) };
  }

  /** A resume that finds the stream gone (the server restarted) says so instead of a bare NOT_FOUND. */
  private explain(error: unknown): TokenRelayError {
    const failure = TokenRelayError.from(error);
    if (failure.code === Status.NOT_FOUND && this.reconnects > 0) {
      return new TokenRelayError(
        Status.NOT_FOUND,
        `cannot resume stream ${this.streamId} at seq ${this.nextSeq}: the server no longer has it (it restarted, or the retention passed)`,
        { cause: error },
      );
    }
    return failure;
  }
}

/** Opens Generate, then Subscribe on every resume once something was delivered. */
export function generationOpener(client: DataServiceClient, request: GenerateRequest, metadata: Metadata): Open {
  return (fromSeq, delivered, options) =>
    delivered || fromSeq > 0
      ? client.subscribe({ streamId: request.streamId, fromSeq }, metadata.clone(), options)
      : client.generate(request, metadata.clone(), options);
}

/** The request as sent: a client-chosen stream id, and resumable when resuming is on. */
export function generationRequest(request: Partial<GenerateRequest>, resume: boolean): GenerateRequest {
  return GenerateRequest.fromPartial({
    ...request,
    streamId: request.streamId || randomUUID(),
    resumable: request.resumable ?? resume,
  });
}

export function withMetadata(metadata: Metadata | undefined): Metadata {
  return metadata?.clone() ?? new Metadata();
}
