import pRetry from 'p-retry';
import { fullJitterDelayMs, sleep } from '../../../common/backoff';
import { StatusCode } from '../../streams/status';
import { UpstreamError } from './errors';

/** How an upstream request is retried before its first token. */
export interface RetryPolicy {
  /** Most attempts, the first included (1 turns retry off). */
  maxAttempts: number;
  /** The first retry waits up to this, in ms; each later one up to twice as long (full jitter). */
  baseMs: number;
  /** No jittered wait is longer than this, in ms. */
  capMs: number;
  /** The longest Retry-After honoured, in ms; an upstream asking for longer is not retried. */
  maxRetryAfterMs: number;
}

export interface RetryOptions {
  policy: RetryPolicy;
  /** Aborts the attempt in flight and any wait between attempts. */
  signal: AbortSignal;
  /** The caller's deadline (ms since the epoch): no retry starts whose wait would pass it. */
  deadlineMs?: number;
  /** For tests: the random source of the jitter. */
  random?: () => number;
}

/**
 * Runs attempt until it succeeds, retrying retryable UpstreamErrors with
 * full-jitter exponential backoff (p-retry counts the attempts; the waits are
 * ours, so Retry-After, the signal and the deadline bound them). The attempt
 * itself makes an error non-retryable once it has relayed a token, so this
 * never duplicates one. Rejects with the last failure, its message saying why
 * it was not retried; with the signal's reason when aborted.
 */
export function withRetry<T>(attempt: (attemptNumber: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, signal, deadlineMs, random } = options;
  return pRetry(
    (attemptNumber) => {
      if (signal.aborted) throw signal.reason;
      return attempt(attemptNumber);
    },
    {
      retries: policy.maxAttempts - 1,
      // p-retry's own timer waits 0 ms: the wait happens in onFailedAttempt.
      minTimeout: 0,
      maxTimeout: 0,
      onFailedAttempt: async (error) => {
        if (signal.aborted) throw signal.reason;
        if (!(error instanceof UpstreamError) || !error.retryable) throw error;
        if (error.retriesLeft === 0) {
          throw new UpstreamError(
            error.code,
            `${error.message} (gave up after ${error.attemptNumber} attempts)`,
            false,
            error.retryAfterMs,
          );
        }
        let delayMs: number;
        if (error.retryAfterMs !== undefined) {
          if (error.retryAfterMs > policy.maxRetryAfterMs) {
            throw new UpstreamError(
              error.code,
              `${error.message}; it asked to retry after ${error.retryAfterMs} ms, longer than retry.maxRetryAfterMs (${policy.maxRetryAfterMs} ms)`,
              false,
              error.retryAfterMs,
            );
          }
          delayMs = error.retryAfterMs;
        } else {
          delayMs = fullJitterDelayMs(error.attemptNumber - 1, { baseMs: policy.baseMs, capMs: policy.capMs }, random);
        }
        if (deadlineMs !== undefined && Date.now() + delayMs >= deadlineMs) {
          throw new UpstreamError(
            StatusCode.DEADLINE_EXCEEDED,
            `${error.message}; a retry in ${delayMs} ms would pass the call's deadline`,
            false,
          );
        }
        await sleep(delayMs, signal);
      },
    },
  );
}

/**
 * How long an upstream asks us to wait, in ms: `retry-after-ms` (OpenAI's),
 * else `Retry-After` as delay-seconds or an HTTP date; undefined when absent
 * or unreadable.
 */
export function retryAfterMs(retryAfter: string | undefined, retryAfterMillis?: string, nowMs = Date.now()): number | undefined {
  if (retryAfterMillis !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(retryAfterMillis)) {
    return Math.ceil(Number(retryAfterMillis));
  }
  if (retryAfter === undefined) return undefined;
  const value = retryAfter.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // HTTP dates name the month ("Sat, 02 Nov 2024 10:15:03 GMT"); Date.parse would take "-1" for a year.
  if (!/[A-Za-z]{3}/.test(value)) return undefined;
  const dateMs = Date.parse(value);
  if (Number.isNaN(dateMs)) return undefined;
  return Math.max(0, dateMs - nowMs);
}
