import { setImmediate as yieldToLoop, setTimeout as sleepFor } from 'node:timers/promises';

/** How often an unpaced producer yields to the event loop, in tokens. */
const YIELD_EVERY_TOKENS = 256;

/**
 * Paces a producer on absolute times (start + ttft + n × interToken), so a late
 * timer is caught up instead of drifting. With zero latencies it only yields
 * to the event loop every 256 tokens so other streams and I/O run.
 */
export class Pacer {
  private readonly startMs = performance.now();
  private emitted = 0;

  constructor(
    private readonly ttftMs: number,
    private readonly interTokenMs: number,
    private readonly signal: AbortSignal,
  ) {}

  /** Whether tokens may go as fast as they are made (no ttft, no inter-token latency). */
  get unpaced(): boolean {
    return this.ttftMs === 0 && this.interTokenMs === 0;
  }

  /**
   * Waits until the next token is due: a promise when there is something to
   * wait for, undefined when the token may go at once (the unpaced hot path
   * then costs no await). Throws the abort reason if aborted.
   */
  next(): Promise<void> | undefined {
    this.throwIfAborted();
    const n = this.emitted++;
    if (this.unpaced) {
      return n % YIELD_EVERY_TOKENS === YIELD_EVERY_TOKENS - 1 ? this.afterYield() : undefined;
    }
    const waitMs = this.startMs + this.ttftMs + n * this.interTokenMs - performance.now();
    return waitMs >= 1 ? this.sleep(waitMs) : undefined;
  }

  /** Unpaced: how many tokens may go now, before the next yield to the event loop. */
  runLength(): number {
    return YIELD_EVERY_TOKENS - (this.emitted % YIELD_EVERY_TOKENS);
  }

  /**
   * Unpaced: counts a run of tokens that went out; a promise to await when
   * the run reached a yield point. Throws the abort reason if aborted.
   */
  advance(count: number): Promise<void> | undefined {
    this.throwIfAborted();
    this.emitted += count;
    return this.emitted % YIELD_EVERY_TOKENS === 0 ? this.afterYield() : undefined;
  }

  throwIfAborted(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }

  private async afterYield(): Promise<void> {
    await yieldToLoop();
    this.throwIfAborted();
  }

  private async sleep(waitMs: number): Promise<void> {
    await sleepFor(waitMs, undefined, { signal: this.signal }).catch(() => undefined);
    this.throwIfAborted();
  }
}
