/** min / median / max of a set of repetitions. */
export interface Summary {
  min: number;
  median: number;
  max: number;
  samples: number[];
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort(ascending);
  return { min: sorted[0], median: quantile(sorted, 0.5), max: sorted[sorted.length - 1], samples };
}

/** The summary of per-repetition ratios a[i] / b[i], over the repetitions both have: same-run ratios, which move less than either figure. */
export function ratioSummary(a: number[], b: number[]): Summary {
  const count = Math.min(a.length, b.length);
  return summarize(Array.from({ length: count }, (_, index) => a[index] / b[index]));
}

/** Ascending order that copes with Infinity (a token that never arrived). */
const ascending = (a: number, b: number) => (a < b ? -1 : a > b ? 1 : 0);

/** The q-quantile (0..1) of ascending values, interpolated between neighbours. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const index = (sorted.length - 1) * q;
  const low = Math.floor(index);
  const high = Math.ceil(index);
  if (low === high || sorted[high] === Infinity) return sorted[high];
  return sorted[low] + (sorted[high] - sorted[low]) * (index - low);
}

/** Percentiles of unsorted values (sorts a copy). */
export function percentiles(values: ArrayLike<number>, qs: number[]): number[] {
  const sorted = Float64Array.from(values).sort();
  return qs.map((q) => quantile(sorted, q));
}

/** process.hrtime.bigint() in ns as a number: CLOCK_MONOTONIC, one clock for every process on the machine. */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
