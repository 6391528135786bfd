import type { ServerDuplexStream, ServerWritableStream } from '@grpc/grpc-js';
import type { TokenChunk } from '../gen/tokenrelay/v1/data_service';

type WritableCall = ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/**
 * Tracks a server call's writable side: whether the consumer is gone, and
 * when a full buffer has drained. grpc-js emits 'cancelled' at the end of
 * every call since 1.10, so a call we finished ourselves is never taken for
 * a consumer that left.
 */
export class CallOutput<Message = TokenChunk> {
  private finished = false;
  private consumerGone = false;
  private readonly goneListeners: Array<() => void> = [];
  private drainWaiters: Array<() => void> = [];

  constructor(private readonly call: WritableCall) {
    call.on('drain', () => this.wakeDrainWaiters());
    call.on('cancelled', () => this.markGone());
    call.on('close', () => this.markGone());
  }

  /** Whether nothing more can be sent: the consumer went away, or the call already ended. */
  get gone(): boolean {
    return this.consumerGone || this.finished;
  }

  /** Calls listener once when the consumer goes away (never after a normal finish). */
  onGone(listener: () => void): void {
    if (this.consumerGone) listener();
    else this.goneListeners.push(listener);
  }

  write(message: Message): boolean {
    if (this.finished || this.consumerGone) return true;
    return this.call.write(message);
  }

  drained(): Promise<void> {
    if (this.consumerGone || this.finished) return Promise.resolve();
    return new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  /** Ends the call with OK. */
  end(): void {
    if (this.finished || this.consumerGone) return;
    this.finished = true;
    this.call.end();
    this.wakeDrainWaiters();
  }

  /** Ends the call with a status. */
  fail(code: number, details: string): void {
    if (this.finished || this.consumerGone) return;
    this.finished = true;
    this.call.emit('error', { code, details });
    this.wakeDrainWaiters();
  }

  private markGone(): void {
    if (this.finished || this.consumerGone) return;
    this.consumerGone = true;
    this.wakeDrainWaiters();
    for (const listener of this.goneListeners.splice(0)) listener();
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }
}

