import { DEFAULT_BACKOFF, RetryBudget, fullJitterDelayMs } from '../../../src/common/backoff';

/** A deterministic "random" source cycling through the given values. */
function sequence(...values: number[]): () => number {
  let index = 0;
  return () => values[index++ % values.length];
}

describe('full-jitter backoff schedule', () => {
  it('draws each delay uniformly from [0, min(cap, base × 2^attempt))', () => {
    const options = { baseMs: 100, capMs: 1000 };
    const ceilings = [100, 200, 400, 800, 1000, 1000, 1000];
    ceilings.forEach((ceiling, attempt) => {
      expect(fullJitterDelayMs(attempt, options, () => 0)).toBe(0);
      expect(fullJitterDelayMs(attempt, options, () => 0.5)).toBe(ceiling / 2);
      expect(fullJitterDelayMs(attempt, options, () => 0.999999)).toBe(ceiling - 1);
    });
  });

  it('is randomised: many draws for one attempt spread over the whole range and stay inside it', () => {
    const draws = Array.from({ length: 2000 }, () => fullJitterDelayMs(3, { baseMs: 100, capMs: 5000 }));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(800);
    expect(new Set(draws).size).toBeGreaterThan(200);
    const low = draws.filter((delay) => delay < 400).length;
    expect(low).toBeGreaterThan(800); // about half below the midpoint
    expect(low).toBeLessThan(1200);
  });

  it('is capped however many attempts failed', () => {
    const random = sequence(0.999);
    for (const attempt of [10, 31, 100, 10_000]) {
      expect(fullJitterDelayMs(attempt, { baseMs: 100, capMs: 5000 }, random)).toBeLessThan(5000);
    }
  });

  it('has sensible defaults', () => {
    expect(DEFAULT_BACKOFF).toEqual({ baseMs: 100, capMs: 5000, maxAttempts: 8, maxTotalMs: 30_000 });
    expect(fullJitterDelayMs(0, {}, () => 0.5)).toBe(50);
  });
});

describe('a retry budget', () => {
  it('gives full-jitter waits until its attempts run out, and starts over after a reset', () => {
    const budget = new RetryBudget({ baseMs: 100, capMs: 1000, maxAttempts: 3, maxTotalMs: 60_000 }, undefined, () => 0.5);
    expect([budget.next(0), budget.next(0), budget.next(0), budget.next(0)]).toEqual([50, 100, 200, undefined]);
    expect(budget.retries).toBe(3);
    budget.reset();
    expect(budget.next(0)).toBe(50);
  });

  it('gives no wait that would pass its total time, counted from the first failure', () => {
    const budget = new RetryBudget({ baseMs: 1000, capMs: 1000, maxAttempts: 100, maxTotalMs: 2000 }, undefined, () => 0.5);
    expect(budget.next(10_000)).toBe(500);
    expect(budget.next(11_000)).toBe(500);
    expect(budget.next(11_600)).toBeUndefined(); // 1,600 + 500 > 2,000
  });

  it('gives no wait that would reach the deadline', () => {
    const budget = new RetryBudget({ baseMs: 1000, capMs: 1000 }, 10_400, () => 0.5);
    expect(budget.next(9_000)).toBe(500);
    expect(budget.next(9_900)).toBeUndefined(); // 9,900 + 500 reaches 10,400
  });
});
