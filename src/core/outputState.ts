/**
 * What every output to a consumer (a gRPC call, an HTTP response) tracks: did
 * we end it ourselves, did the consumer go away first, and who is waiting
 * for a full buffer to drain. Transports end every exchange with a 'close'
 * or 'cancelled' event, normal ends included, so the two ends are told apart
 * here, once.
 */
export class OutputState {
  private finishedByUs = false;
  private consumerGone = false;
  private readonly goneListeners: Array<() => void> = [];
  private drainWaiters: Array<() => void> = [];

  /** Whether nothing more can be sent: we ended it, or the consumer went away. */
  get closed(): boolean {
    return this.finishedByUs || this.consumerGone;
  }

  /** Whether the consumer went away before we ended it. */
  get gone(): boolean {
    return this.consumerGone;
  }

  /** Calls listener once when the consumer goes away (never after our own end). */
  onGone(listener: () => void): void {
    if (this.consumerGone) listener();
    else this.goneListeners.push(listener);
  }

  /** Resolves when the transport drains, or at once when the output is closed. */
  drained(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  /** Marks our own end; false if the output was already closed. */
  finish(): boolean {
    if (this.closed) return false;
    this.finishedByUs = true;
    this.wakeDrainWaiters();
    return true;
  }

  /** Marks the consumer gone, unless we already ended it. */
  markGone(): void {
    if (this.closed) return;
    this.consumerGone = true;
    this.wakeDrainWaiters();
    for (const listener of this.goneListeners.splice(0)) listener();
  }

  wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }
}
