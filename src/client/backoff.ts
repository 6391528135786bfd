/** Reconnect and retry backoff: full jitter on a capped exponential, bounded in attempts and total time. */
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
