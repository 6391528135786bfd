/**
 * The one backoff of tokenrelay, used by the SDK (stream resume, the
 * publisher, unary retries) and the server (upstream retries, Redis
 * reconnects): full jitter on a capped exponential, bounded in attempts, in
 * total time and by a deadline. It imports nothing, so the SDK can use it
 * without loading server code.
 */
export interface BackoffOptions {
  /** The first delay's upper bound, in ms. Default 100. */
  baseMs?: number;
  /** No delay is longer than this, in ms. Default 5000. */
  capMs?: number;
  /** Most retries after the first try. Default 8. */
  maxAttempts?: number;
  /** Most time spent retrying, from the first failure, in ms. Default 30000. */
  maxTotalMs?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { baseMs: 100, capMs: 5000, maxAttempts: 8, maxTotalMs: 30_000 };

/**
 * The delay before retry number `attempt` (0 for the first retry): uniformly
 * random in [0, min(cap, base × 2^attempt)) ("full jitter"), so clients that
 * failed together do not come back together.
 */
export function fullJitterDelayMs(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const { baseMs, capMs } = { ...DEFAULT_BACKOFF, ...options };
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * One run of retries: how many were made, since when, and the wait before
 * the next, until the attempts, the total time or the deadline run out. A
 * success resets it, so the next failure starts a fresh run.
 */
export class RetryBudget {
  /** Retries taken in this run. */
  retries = 0;
  private readonly options: Required<BackoffOptions>;
  private firstFailureMs: number | undefined;

  constructor(
    options: BackoffOptions = {},
    /** No retry starts whose wait would reach this (ms since the epoch). */
    private readonly deadlineMs?: number,
    private readonly random: () => number = Math.random,
  ) {
    this.options = { ...DEFAULT_BACKOFF, ...options };
  }

  /** The wait before the next retry, counting it; undefined when the run is out of attempts, time or deadline. */
  next(nowMs = Date.now()): number | undefined {
    this.firstFailureMs ??= nowMs;
    if (this.retries >= this.options.maxAttempts) return undefined;
    const delayMs = fullJitterDelayMs(this.retries, this.options, this.random);
    if (nowMs - this.firstFailureMs + delayMs > this.options.maxTotalMs) return undefined;
    if (this.deadlineMs !== undefined && nowMs + delayMs >= this.deadlineMs) return undefined;
    this.retries++;
    return delayMs;
  }

  /** Progress was made: the next failure starts a new run. */
  reset(): void {
    this.retries = 0;
    this.firstFailureMs = undefined;
  }
}

/** Resolves after ms, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
