import { DEFAULT_BACKOFF, fullJitterDelayMs } from '../../../src/client/backoff';

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
