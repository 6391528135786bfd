import { StatusCode, StreamFailure } from './status';
import type { StreamWriter } from './store';

export interface PaceLimits {
  /** Most ms from the stream's start to its first token. */
  ttftMs: number;
  /** Most ms between tokens once the first has come; backpressure pauses do not count. */
  idleMs: number;
}

/**
 * Aborts a stream whose producer stalls: no first token within ttftMs, or no
 * token for idleMs after that. One lazily re-armed timer per stream, not one
 * per token, so a fast stream pays nothing per token for the watch.
 */
export function watchPace(stream: StreamWriter, limits: PaceLimits): void {
  let timer: NodeJS.Timeout | undefined;
  const arm = (delayMs: number) => {
    timer = setTimeout(check, Math.max(1, delayMs));
    timer.unref();
  };
  const check = () => {
    if (stream.end) return;
    const now = performance.now();
    if (stream.firstTokenAtMs === undefined) {
      const waited = now - stream.createdAtMs;
      if (waited >= limits.ttftMs) {
        stream.fail(
          new StreamFailure(
            StatusCode.DEADLINE_EXCEEDED,
            `ttft_timeout_ms: no first token within ${limits.ttftMs} ms; the producer was stopped`,
            { reason: 'MODEL_TIMEOUT' },
          ),
        );
        return;
      }
      // Look again by the idle limit at the latest, so a stall soon after the first token is not missed.
      return arm(Math.min(limits.ttftMs - waited, limits.idleMs));
    }
    const idle = stream.producerPaused ? 0 : now - stream.lastProgressAtMs;
    if (idle >= limits.idleMs) {
      stream.fail(
        new StreamFailure(
          StatusCode.DEADLINE_EXCEEDED,
          `idle_timeout_ms: no token for ${limits.idleMs} ms after token ${stream.nextSeq - 1}; the producer was stopped`,
          { reason: 'MODEL_TIMEOUT' },
        ),
      );
      return;
    }
    arm(limits.idleMs - idle);
  };
  arm(Math.min(limits.ttftMs, limits.idleMs));
  stream.onEnd(() => clearTimeout(timer));
}
