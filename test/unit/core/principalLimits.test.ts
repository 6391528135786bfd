import { PrincipalLimiter } from '../../../src/core/principalLimits';
import { StatusCode, StreamFailure } from '../../../src/core/streams/status';
import { failureOf } from './streams/support';
import type { StreamWriter } from '../../../src/core/streams/store';

// The token bucket's arithmetic on a clock the test moves: refill by the
// minute, the cap, the refund, and the wait it tells a refused caller.

const end = (completionTokens: number) => ({ reason: 'length' as const, usage: { promptTokens: 0, completionTokens } });
const writer = () => ({ nextSeq: 0 }) as unknown as StreamWriter;

describe('PrincipalLimiter', () => {
  let nowMs = 0;
  const refused: string[] = [];
  const limiter = new PrincipalLimiter(
    { maxConcurrentStreams: 0, tokensPerMinute: 600 },
    (p, limit) => refused.push(`${p}:${limit}`),
    () => nowMs,
  );

  it('admits while the bucket is not empty, refuses below one token with the exact wait, and refills by the minute', () => {
    const spent = writer();
    limiter.admit('a', 1000).bind(spent); // 600 -> -400
    limiter.ended(spent, end(1000)); // used it all: no refund
    const failure = failureOf(() => limiter.admit('a', 1));
    expect(failure.code).toBe(StatusCode.RESOURCE_EXHAUSTED);
    expect(failure.details).toEqual({ reason: 'RATE_LIMITED', retryAfterMs: 40_100 }); // 401 tokens at 10 a second
    nowMs += 40_099;
    expect(() => limiter.admit('a', 1)).toThrow(StreamFailure);
    nowMs += 1;
    expect(() => limiter.admit('a', 1).release()).not.toThrow();
    expect(() => limiter.admit('b', 1).release()).not.toThrow(); // another principal has its own bucket
    expect(refused).toEqual(['a:tokens', 'a:tokens']);
  });

  it('refunds what a generation did not use, never past the bucket size', () => {
    nowMs += 3_600_000;
    const stream = writer();
    limiter.admit('c', 600).bind(stream); // 600 -> 0
    expect(() => limiter.admit('c', 1)).toThrow(StreamFailure);
    limiter.ended(stream, end(100)); // 500 back
    const big = writer();
    limiter.admit('c', 10_000).bind(big); // 500 -> -9500
    limiter.ended(big, end(0)); // all 10,000 back: 500 again
    nowMs += 3_600_000; // refilled to 600, and no fuller
    const next = writer();
    limiter.admit('c', 600).bind(next); // 600 -> 0: admitted
    expect(failureOf(() => limiter.admit('c', 1)).details.retryAfterMs).toBe(100);
  });

  it('counts live streams per principal, released when they end or are never created', () => {
    const streams = new PrincipalLimiter({ maxConcurrentStreams: 2, tokensPerMinute: 0 });
    const one = writer();
    streams.admit('p', 0).bind(one);
    const never = streams.admit('p', 0);
    expect(failureOf(() => streams.admit('p', 0)).details.reason).toBe('TOO_MANY_STREAMS');
    never.release();
    never.release(); // idempotent
    const two = writer();
    streams.admit('p', 0).bind(two);
    expect(() => streams.admit('p', 0)).toThrow(StreamFailure);
    streams.released(one);
    streams.ended(two, end(0));
    streams.ended(two, end(0)); // once only
    streams.admit('p', 0).release();
    streams.admit('p', 0).release();
    expect(() => streams.admit(undefined, 1e9)).not.toThrow(); // no principal, no limit
  });
});
