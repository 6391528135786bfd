import { StreamFailure } from '../../../../src/core/streams/status';
import { type TokenBatch, TokenStream, type TokenStreamOptions } from '../../../../src/core/streams/tokenStream';

/** A stream with a wide window that no reader leaving can cancel, unless the test says otherwise. */
export function newStream(options: Partial<TokenStreamOptions> = {}): TokenStream {
  return new TokenStream({ id: 's1', model: 'test', windowTokens: 1024, abandonPolicy: 'keep', resumeGraceMs: 100, ...options });
}

/** The StreamFailure that action throws; fails the test if it throws nothing or something else. */
export function failureOf(action: () => unknown): StreamFailure {
  try {
    action();
  } catch (error) {
    if (error instanceof StreamFailure) return error;
    throw error;
  }
  throw new Error('expected a StreamFailure, but nothing was thrown');
}

/** Whether the promise is still pending once every queued microtask has run (works under fake timers). */
export async function isPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let turn = 0; turn < 20; turn++) await Promise.resolve();
  return !settled;
}

/** Lets other tasks (I/O, setImmediate) run: a consumer that is slower than the producer. */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Tokens t0..t(count-1). */
export function tokenNames(count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, index) => `t${from + index}`);
}

/** A batch as plain data, to compare with toEqual: a packed batch decodes its tokens on demand. */
export function plain(batch: TokenBatch | undefined): { seq: number; tokens: string[] } | undefined {
  return batch && { seq: batch.seq, tokens: batch.tokens };
}
