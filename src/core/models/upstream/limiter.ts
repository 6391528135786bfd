import { StatusCode } from '../../streams/status';
import { UpstreamError } from './errors';

/**
 * Bounds the requests in flight to one upstream: up to maxConcurrent run, up
 * to maxQueue more wait in order, and past that acquire() fails at once with
 * RESOURCE_EXHAUSTED rather than pile onto an upstream that is already full.
 */
export class ConcurrencyLimiter {
  private active = 0;
  private readonly queue: Array<() => void> = [];

  constructor(
    private readonly maxConcurrent: number,
    private readonly maxQueue: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Waits for a slot; returns the function that gives it back (call it exactly once). Aborts with the signal's reason. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) throw signal.reason;
    if (this.active < this.maxConcurrent) {
      this.active++;
      return this.releaser();
    }
    if (this.queue.length >= this.maxQueue) {
      throw new UpstreamError(
        StatusCode.RESOURCE_EXHAUSTED,
        `upstream busy: ${this.maxConcurrent} requests in flight and ${this.queue.length} waiting (maxConcurrent ${this.maxConcurrent}, maxQueue ${this.maxQueue}); try again later`,
        false,
      );
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const index = this.queue.indexOf(grant);
        if (index !== -1) this.queue.splice(index, 1);
        reject(signal.reason);
      };
      this.queue.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next)
        next(); // the slot passes straight to the next in line
      else this.active--;
    };
  }
}
