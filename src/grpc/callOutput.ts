import type { Metadata, ServerDuplexStream, ServerWritableStream } from '@grpc/grpc-js';
import type { StreamFailure } from '../core/streams/status';
import type { TokenChunk } from '../gen/tokenrelay/v1/data_service';
import { OutputState } from '../core/outputState';
import { failureStatus } from './status';

type WritableCall = ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/**
 * Tracks a server call's writable side: whether the consumer is gone, and
 * when a full buffer has drained. grpc-js emits 'cancelled' at the end of
 * every call since 1.10, so a call we finished ourselves is never taken for
 * a consumer that left.
 */
export class CallOutput<Message = TokenChunk> {
  private readonly state = new OutputState();

  constructor(private readonly call: WritableCall) {
    call.on('drain', () => this.state.wakeDrainWaiters());
    call.on('cancelled', () => this.state.markGone());
    call.on('close', () => this.state.markGone());
  }

  /** Whether nothing more can be sent: the consumer went away, or the call already ended. */
  get gone(): boolean {
    return this.state.closed;
  }

  /** Calls listener once when the consumer goes away (never after a normal finish). */
  onGone(listener: () => void): void {
    this.state.onGone(listener);
  }

  write(message: Message): boolean {
    if (this.state.closed) return true;
    return this.call.write(message);
  }

  drained(): Promise<void> {
    return this.state.drained();
  }

  /** Ends the call with OK. */
  end(): void {
    if (this.state.finish()) this.call.end();
  }

  /** Ends the call with the failure's status, its details in the trailers (added to the given ones). */
  fail(failure: StreamFailure, trailers?: Metadata): void {
    if (this.state.finish()) this.call.emit('error', failureStatus(failure, trailers));
  }
}
