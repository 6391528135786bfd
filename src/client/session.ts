import { randomUUID } from 'node:crypto';
import { type ClientDuplexStream, status as Status } from '@grpc/grpc-js';
import { type DataRequest, type DataResponse, FinishReason, GenerateRequest, type TokenChunk } from '../gen/tokenrelay/v1/data_service';
import { TokenRelayError } from './errors';

/** One generation of a session: its chunks as an async iterable, and a way to cancel it. */
export interface SessionGeneration extends AsyncIterable<TokenChunk> {
  readonly requestId: string;
  /** Cancels this generation on the server; its loop then ends with a CANCELLED error. */
  cancel(): void;
}

interface Pending {
  chunks: TokenChunk[];
  done: boolean;
  error?: TokenRelayError;
  wake?: () => void;
}

/** Chunks a session holds for loops that have not taken them before it stops reading the call. */
const SESSION_HIGH_WATER_CHUNKS = 64;

/**
 * A StreamData session: several generations over one call, each its own
 * async iterable, started and cancelled by messages (no RST_STREAM per
 * cancel), plus ping. Close it to half-close; the server then ends the call
 * once every generation has ended.
 *
 * Memory is bounded as on the server: once 64 chunks wait for loops that
 * have not taken them, the session stops reading the call, so HTTP/2 flow
 * control pauses the server's producers, until the loops have taken half.
 * The generations of one session share that one call: a loop that stops
 * reading holds the others too (start independent generations with
 * generate() to pace them apart).
 */
export class Session {
  private readonly generations = new Map<string, Pending>();
  /** Chunks received and not yet taken by a loop, over every generation. */
  private buffered = 0;
  private readonly pings = new Map<string, (serverTimeMs: number) => void>();
  private failure: TokenRelayError | undefined;
  private readonly ended: Promise<void>;

  constructor(private readonly call: ClientDuplexStream<DataRequest, DataResponse>) {
    call.on('data', (response: DataResponse) => this.dispatch(response));
    this.ended = new Promise<void>((resolve) => {
      call.on('error', (error: unknown) => {
        this.failure = TokenRelayError.from(error);
        for (const pending of this.generations.values()) this.settle(pending, this.failure);
        resolve();
      });
      call.on('end', () => {
        for (const pending of this.generations.values()) {
          this.settle(pending, new TokenRelayError(Status.UNAVAILABLE, 'the session ended before this generation did'));
        }
        resolve();
      });
    });
  }

  /** Starts a generation; requestId defaults to a fresh UUID. */
  start(request: Partial<GenerateRequest>, requestId: string = randomUUID()): SessionGeneration {
    if (this.failure) throw this.failure;
    if (this.generations.has(requestId)) {
      throw new TokenRelayError(Status.ALREADY_EXISTS, `request_id: ${requestId} is already live in this session`);
    }
    const pending: Pending = { chunks: [], done: false };
    this.generations.set(requestId, pending);
    this.call.write({ requestId, start: GenerateRequest.fromPartial(request) });
    const call = this.call;
    const generations = this.generations;
    const took = (count: number) => this.took(count);
    return {
      requestId,
      cancel: () => {
        if (!pending.done) call.write({ requestId, cancel: {} });
      },
      async *[Symbol.asyncIterator]() {
        try {
          for (;;) {
            const chunk = pending.chunks.shift();
            if (chunk) {
              took(1);
              yield chunk;
              continue;
            }
            if (pending.error) throw pending.error;
            if (pending.done) return;
            await new Promise<void>((resolve) => (pending.wake = resolve));
          }
        } finally {
          if (!pending.done) call.write({ requestId, cancel: {} });
          took(pending.chunks.splice(0).length); // what a loop that left early did not take
          generations.delete(requestId);
        }
      },
    };
  }

  /** Round trip to the server and back, in ms. */
  ping(): Promise<number> {
    const requestId = `ping-${randomUUID()}`;
    const sentMs = performance.now();
    return new Promise((resolve) => {
      this.pings.set(requestId, () => resolve(performance.now() - sentMs));
      this.call.write({ requestId, ping: { nonce: 0 } });
    });
  }

  /** Half-closes and waits for the server to end the session (after its generations end). */
  async close(): Promise<void> {
    this.call.end();
    await this.ended;
    if (this.failure) throw this.failure;
  }

  /** Ends the session at once; live generations end with CANCELLED. */
  cancel(): void {
    this.call.cancel();
  }

  private dispatch(response: DataResponse): void {
    if (response.pong) {
      this.pings.get(response.requestId)?.(response.pong.serverTimeMs);
      this.pings.delete(response.requestId);
      return;
    }
    const pending = this.generations.get(response.requestId);
    if (!pending || pending.done) return;
    if (response.error) {
      this.settle(pending, new TokenRelayError(response.error.code, response.error.message));
      return;
    }
    const chunk = response.chunk;
    if (!chunk || chunk.heartbeat) return;
    pending.chunks.push(chunk);
    if (++this.buffered >= SESSION_HIGH_WATER_CHUNKS && !this.call.isPaused()) this.call.pause();
    if (chunk.finishReason !== FinishReason.FINISH_REASON_UNSPECIFIED) pending.done = true;
    pending.wake?.();
  }

  /** Loops took (or dropped) chunks: read the call again once half the high water is free. */
  private took(count: number): void {
    this.buffered -= count;
    if (this.buffered < SESSION_HIGH_WATER_CHUNKS / 2 && this.call.isPaused()) this.call.resume();
  }

  private settle(pending: Pending, error: TokenRelayError): void {
    if (pending.done) return;
    pending.done = true;
    pending.error = error;
    pending.wake?.();
  }
}
