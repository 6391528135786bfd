import { UpstreamError, httpStatusError } from '../../../../../src/core/models/upstream/errors';
import { type RetryPolicy, retryAfterMs, withRetry } from '../../../../../src/core/models/upstream/retry';
import { StatusCode, StreamFailure } from '../../../../../src/core/streams/status';

const policy: RetryPolicy = { maxAttempts: 4, baseMs: 20, capMs: 1000, maxRetryAfterMs: 500 };
const unavailable = (retryAfter?: number) => new UpstreamError(StatusCode.UNAVAILABLE, 'upstream answered 503', true, retryAfter);

/** An attempt that fails with the given errors in turn, then succeeds. */
function failing(...errors: Error[]) {
  const startedMs: number[] = [];
  const attempt = async () => {
    startedMs.push(performance.now());
    const error = errors[startedMs.length - 1];
    if (error) throw error;
    return 'ok';
  };
  return { attempt, startedMs };
}

describe('retry before the first token', () => {
  it('retries retryable failures and returns the first success', async () => {
    const { attempt, startedMs } = failing(unavailable(), unavailable());
    await expect(withRetry(attempt, { policy, signal: new AbortController().signal })).resolves.toBe('ok');
    expect(startedMs).toHaveLength(3);
  });

  it('waits full-jitter delays: uniformly below base × 2^retry, capped', async () => {
    const draws: number[] = [];
    const random = () => {
      draws.push(0.999);
      return 0.999;
    };
    const { attempt, startedMs } = failing(unavailable(), unavailable(), unavailable());
    await withRetry(attempt, { policy, signal: new AbortController().signal, random });
    expect(draws).toHaveLength(3);
    const gaps = startedMs.slice(1).map((at, index) => at - startedMs[index]);
    // Ceilings 20, 40, 80 ms; at 0.999 of each (timers may run a little late).
    for (const [index, expected] of [19, 39, 79].entries()) expect(gaps[index]).toBeGreaterThanOrEqual(expected - 2);
  });

  it('gives up after maxAttempts with the last failure, saying so', async () => {
    const { attempt, startedMs } = failing(unavailable(), unavailable(), unavailable(), unavailable(), unavailable());
    const failure = await withRetry(attempt, { policy, signal: new AbortController().signal, random: () => 0 }).catch(
      (error: unknown) => error,
    );
    expect(startedMs).toHaveLength(4);
    expect(failure).toMatchObject({ code: StatusCode.UNAVAILABLE, message: 'upstream answered 503 (gave up after 4 attempts)' });
  });

  it.each([
    [400, StatusCode.INVALID_ARGUMENT],
    [401, StatusCode.UNAUTHENTICATED],
    [403, StatusCode.PERMISSION_DENIED],
    [404, StatusCode.NOT_FOUND],
    [422, StatusCode.INVALID_ARGUMENT],
  ])('does not retry %i, which maps to code %i', async (status, code) => {
    const { attempt, startedMs } = failing(httpStatusError(status, 'Status', '"why"'));
    const failure = await withRetry(attempt, { policy, signal: new AbortController().signal }).catch((error: unknown) => error);
    expect(startedMs).toHaveLength(1);
    expect(failure).toMatchObject({ code, message: `upstream answered ${status} Status: "why"` });
  });

  it.each([429, 500, 502, 503, 504])('retries %i', async (status) => {
    const { attempt, startedMs } = failing(httpStatusError(status, '', ''));
    await expect(withRetry(attempt, { policy, signal: new AbortController().signal, random: () => 0 })).resolves.toBe('ok');
    expect(startedMs).toHaveLength(2);
  });

  it('waits what Retry-After asks, instead of the jitter', async () => {
    const { attempt, startedMs } = failing(unavailable(150));
    await withRetry(attempt, { policy, signal: new AbortController().signal, random: () => 0 });
    expect(startedMs[1] - startedMs[0]).toBeGreaterThanOrEqual(148);
  });

  it('does not retry when Retry-After asks for longer than maxRetryAfterMs', async () => {
    const { attempt, startedMs } = failing(unavailable(5000));
    const failure = await withRetry(attempt, { policy, signal: new AbortController().signal }).catch((error: unknown) => error);
    expect(startedMs).toHaveLength(1);
    expect(failure).toMatchObject({
      code: StatusCode.UNAVAILABLE,
      message: 'upstream answered 503; it asked to retry after 5000 ms, longer than retry.maxRetryAfterMs (500 ms)',
    });
  });

  it('starts no retry whose wait would pass the deadline: DEADLINE_EXCEEDED at once', async () => {
    const { attempt, startedMs } = failing(unavailable(400));
    const before = performance.now();
    const failure = await withRetry(attempt, { policy, signal: new AbortController().signal, deadlineMs: Date.now() + 200 }).catch(
      (error: unknown) => error,
    );
    expect(performance.now() - before).toBeLessThan(100);
    expect(startedMs).toHaveLength(1);
    expect(failure).toMatchObject({
      code: StatusCode.DEADLINE_EXCEEDED,
      message: "upstream answered 503; a retry in 400 ms would pass the call's deadline",
    });
  });

  it('an abort during the wait rejects at once with the abort reason and starts no other attempt', async () => {
    const controller = new AbortController();
    const { attempt, startedMs } = failing(unavailable(400));
    const reason = new StreamFailure(StatusCode.CANCELLED, 'cancelled');
    setTimeout(() => controller.abort(reason), 30);
    const before = performance.now();
    await expect(withRetry(attempt, { policy, signal: controller.signal })).rejects.toBe(reason);
    expect(performance.now() - before).toBeLessThan(150);
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect(startedMs).toHaveLength(1);
  });

  it('passes other errors through untouched, without retrying', async () => {
    const bug = new RangeError('a bug');
    const { attempt, startedMs } = failing(bug);
    await expect(withRetry(attempt, { policy, signal: new AbortController().signal })).rejects.toBe(bug);
    expect(startedMs).toHaveLength(1);
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2024-11-02T10:15:00Z');

  it('reads delay-seconds', () => expect(retryAfterMs('7', undefined, now)).toBe(7000));
  it('reads an HTTP date', () => expect(retryAfterMs('Sat, 02 Nov 2024 10:15:03 GMT', undefined, now)).toBe(3000));
  it('reads a date in the past as no wait', () => expect(retryAfterMs('Sat, 02 Nov 2024 10:14:00 GMT', undefined, now)).toBe(0));
  it("prefers OpenAI's retry-after-ms", () => expect(retryAfterMs('7', '1250', now)).toBe(1250));
  it('ignores what it cannot read', () => {
    expect(retryAfterMs('soon', undefined, now)).toBeUndefined();
    expect(retryAfterMs(undefined, 'x', now)).toBeUndefined();
    expect(retryAfterMs('-1', undefined, now)).toBeUndefined();
  });
});
