import { setImmediate as yieldToLoop, setTimeout as sleepFor } from 'node:timers/promises';

/** How often an unpaced producer yields to the event loop, in tokens. */
const YIELD_EVERY_TOKENS = 256;

/**
 * Paces a producer on absolute times (start + ttft + n × interToken), so a late
 * timer is caught up instead of drifting. With zero latencies it only yields
 * to the event loop now and then so other streams and I/O run.
 */
export class Pacer {
  private readonly startMs = performance.now();
  private emitted = 0;

  constructor(
    private readonly ttftMs: number,
    private readonly interTokenMs: number,
    private readonly signal: AbortSignal,
  ) {}

  /**
   * Waits until the next token is due: a promise when there is something to
   * wait for, undefined when the token may go at once (the unpaced hot path
   * then costs no await). Throws the abort reason if aborted.
   */
  next(): Promise<void> | undefined {
    if (this.signal.aborted) throw this.signal.reason;
    const n = this.emitted++;
    if (this.ttftMs === 0 && this.interTokenMs === 0) {
      return n % YIELD_EVERY_TOKENS === YIELD_EVERY_TOKENS - 1 ? this.afterYield() : undefined;
    }
    const waitMs = this.startMs + this.ttftMs + n * this.interTokenMs - performance.now();
    return waitMs >= 1 ? this.sleep(waitMs) : undefined;
  }

  private async afterYield(): Promise<void> {
    await yieldToLoop();
    if (this.signal.aborted) throw this.signal.reason;
  }

  private async sleep(waitMs: number): Promise<void> {
    await sleepFor(waitMs, undefined, { signal: this.signal }).catch(() => undefined);
    if (this.signal.aborted) throw this.signal.reason;
  }
}

/** Whether text ends with (or contains) one of the stop sequences. */
export function hitsStop(text: string, stop: readonly string[]): boolean {
  for (const sequence of stop) if (text.includes(sequence)) return true;
  return false;
}
