import { ConcurrencyLimiter } from '../../../../../src/core/models/upstream/limiter';
import { UpstreamError } from '../../../../../src/core/models/upstream/errors';
import { StatusCode, StreamFailure } from '../../../../../src/core/streams/status';

const live = () => new AbortController().signal;

describe('concurrency limiter', () => {
  it('lets maxConcurrent in, queues the next maxQueue in order, and refuses the rest with RESOURCE_EXHAUSTED', async () => {
    const limiter = new ConcurrencyLimiter(2, 2);
    const first = await limiter.acquire(live());
    await limiter.acquire(live());
    const order: number[] = [];
    const third = limiter.acquire(live()).then((release) => {
      order.push(3);
      return release;
    });
    const fourth = limiter.acquire(live()).then((release) => {
      order.push(4);
      return release;
    });
    const refused = await limiter.acquire(live()).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UpstreamError);
    expect(refused).toMatchObject({ code: StatusCode.RESOURCE_EXHAUSTED, retryable: false });
    expect(limiter.queued).toBe(2);
    first();
    first(); // a second release of the same slot does nothing
    const releaseThird = await third;
    expect(order).toEqual([3]);
    expect(limiter.inFlight).toBe(2);
    releaseThird();
    await fourth;
    expect(order).toEqual([3, 4]);
    expect(limiter.inFlight).toBe(2);
  });

  it('an aborted waiter leaves the queue and rejects with the abort reason', async () => {
    const limiter = new ConcurrencyLimiter(1, 1);
    const release = await limiter.acquire(live());
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    const reason = new StreamFailure(StatusCode.CANCELLED, 'gone');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(limiter.queued).toBe(0);
    release();
    expect(limiter.inFlight).toBe(0);
  });
});
