import pino from 'pino';
import { StatusCode, StreamFailure } from '../../src/core/streams/status';
import type { StreamWriter } from '../../src/core/streams/store';
import { streamKeys } from '../../src/core/streams/redis/keys';
import { RedisStore } from '../../src/core/streams/redis/store';
import type { StreamEnd } from '../../src/core/streams/tokenStream';
import { readToEnd } from '../contract/streamStore';
import { RedisServer } from '../helpers/redis';
import { memoryLogger, waitFor } from '../helpers/server';

/**
 * Two replicas of the redis store in one process (two stores, each with its
 * own connections and replica id, on one real redis-server): what one
 * replica does to a stream, the other sees.
 */

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.stop());

const noMetrics = {
  roundTrip: () => undefined,
  pipeline: () => undefined,
  takeover: () => undefined,
  producerLost: () => undefined,
  ready: () => undefined,
};
const opened: RedisStore[] = [];
let prefixes = 0;

async function replicas(
  options: { leaseMs?: number; resumeGraceMs?: number; loggerOfB?: pino.Logger } = {},
): Promise<[RedisStore, RedisStore]> {
  const keyPrefix = `replicas${++prefixes}`;
  const make = async (logger?: pino.Logger) => {
    const store = new RedisStore(
      {
        url: redis.url,
        cluster: false,
        keyPrefix,
        leaseMs: options.leaseMs ?? 1000,
        connectTimeoutMs: 2000,
        commandTimeoutMs: 2000,
        maxActiveStreams: 100,
        retentionMs: 60_000,
        maxRetainedStreams: 100,
        maxRetainedBytes: 1_000_000,
        windowTokens: 64,
        resumeGraceMs: options.resumeGraceMs ?? 300,
      },
      logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      noMetrics,
    );
    store.start();
    await waitFor(() => store.ready, 5000, 'redis to be ready');
    opened.push(store);
    return store;
  };
  return [await make(), await make(options.loggerOfB)];
}

afterEach(async () => {
  for (const store of opened.splice(0)) {
    store.failAll(new StreamFailure(StatusCode.UNAVAILABLE, 'test over'));
    await store.close();
  }
});

const settled = (writer: StreamWriter) => new Promise<StreamEnd>((resolve) => writer.onEnd(resolve));

it('a reader on replica B gets every token replica A produces, in order, then the end', async () => {
  const [a, b] = await replicas();
  const writer = await a.create({ id: 'across', model: 'm', abandonPolicy: 'keep' });
  const reader = (await b.find('across'))!.openReader(0);
  const expected: string[] = [];
  for (let run = 0; run < 20; run++) {
    const tokens = Array.from({ length: 1 + (run % 7) }, (_, index) => `r${run}t${index} `);
    expected.push(...tokens);
    const wait = writer.appendMany(tokens);
    if (wait) await wait;
    await new Promise((resolve) => setImmediate(resolve));
  }
  writer.finish('length');
  const { tokens, end } = await readToEnd(reader);
  expect(end.failure?.message).toBeUndefined();
  expect(tokens).toEqual(expected);
  expect(end.reason).toBe('length');
  expect(end.usage.completionTokens).toBe(expected.length);
});

it("a stop on replica B aborts the producer on replica A within 100 ms, and both replicas' readers see CANCELLED after the same tokens", async () => {
  const [a, b] = await replicas();
  const writer = await a.create({ id: 'cancel-across', model: 'm', abandonPolicy: 'keep' });
  const readerA = writer.view.openReader(0);
  const readerB = (await b.find('cancel-across'))!.openReader(0);
  writer.appendMany(['a', 'b', 'c']);
  await waitFor(() => readerB.read() !== undefined, 2000, 'B to see the tokens');
  const stoppedAt = performance.now();
  expect(await b.stop('cancel-across', new StreamFailure(StatusCode.CANCELLED, 'cancelled on B'))).toBe(true);
  await waitFor(() => writer.signal.aborted, 2000, 'the producer on A to be aborted');
  expect(performance.now() - stoppedAt).toBeLessThan(100);
  const [onA, onB] = await Promise.all([readToEnd(readerA), readToEnd(readerB)]);
  expect(onA.tokens).toEqual(['a', 'b', 'c']);
  expect(onA.end.failure?.message).toBe('cancelled on B');
  expect(onB.end.failure?.code).toBe(StatusCode.CANCELLED);
  const end = await settled(writer);
  expect(end.failure?.message).toBe('cancelled on B');
});

it('abandon "cancel" counts readers on every replica: the stream goes on while B reads, and is cancelled when B leaves too', async () => {
  const [a, b] = await replicas();
  const writer = await a.create({ id: 'last-reader', model: 'm', abandonPolicy: 'cancel' });
  const readerA = writer.view.openReader(0);
  const readerB = (await b.find('last-reader'))!.openReader(0);
  await new Promise((resolve) => setTimeout(resolve, 100)); // B's presence is announced
  readerA.close();
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(writer.end).toBeUndefined();
  readerB.close();
  const end = await settled(writer);
  expect(end.failure?.message).toMatch(/its last consumer went away/);
});

it('abandon "grace": a resumable stream whose reader moved to B is not cancelled; when B leaves it is, after the grace', async () => {
  const [a, b] = await replicas({ resumeGraceMs: 300 });
  const writer = await a.create({ id: 'moved-reader', model: 'm', abandonPolicy: 'grace' });
  writer.view.openReader(0).close();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const readerB = (await b.find('moved-reader'))!.openReader(0);
  await new Promise((resolve) => setTimeout(resolve, 500)); // past the grace
  expect(writer.end).toBeUndefined();
  readerB.close();
  const end = await settled(writer);
  expect(end.failure?.message).toMatch(/no consumer re-attached within 300 ms/);
});

it('a resumable publisher moves from A to B: B continues at the stored next seq, A lets go, readers see each token once', async () => {
  const [a, b] = await replicas({ resumeGraceMs: 5000 });
  const first = await a.create({ id: 'moving-publisher', model: 'worker', abandonPolicy: 'keep', publishedResumable: true });
  const reader = (await b.find('moving-publisher'))!.openReader(0);
  first.appendMany(['a', 'b', 'c']);
  await waitFor(() => a.activeCount === 1, 100);
  // While A's producer is attached, B may not take the stream: UNAVAILABLE, retry later.
  await new Promise((resolve) => setTimeout(resolve, 50));
  await expect(b.reopen('moving-publisher')).rejects.toMatchObject({ code: StatusCode.UNAVAILABLE });
  first.detach();
  let second: StreamWriter | undefined;
  for (let attempt = 0; attempt < 50 && !second; attempt++) {
    second = await b.reopen('moving-publisher').catch(() => undefined);
    if (!second) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(second?.nextSeq).toBe(3);
  await waitFor(() => a.activeCount === 0, 2000, 'A to let the stream go');
  expect(first.append('late')).toBeUndefined(); // A's writer no longer writes
  second!.appendMany(['d', 'e']);
  second!.finish('stop');
  const { tokens, end } = await readToEnd(reader);
  expect(tokens).toEqual(['a', 'b', 'c', 'd', 'e']);
  expect(end.reason).toBe('stop');
});

it('a producer that stops renewing its lease is lost: a reader on B gets the exact prefix, then UNAVAILABLE "producer lost", within the lease and one renewal', async () => {
  const [a, b] = await replicas({ leaseMs: 1000 });
  const writer = await a.create({ id: 'dies', model: 'm', abandonPolicy: 'keep' });
  writer.appendMany(['x', 'y']);
  const reader = (await b.find('dies'))!.openReader(0);
  await waitFor(() => reader.read() !== undefined, 2000, 'B to see the tokens');
  const diedAt = performance.now();
  await a.close(); // no more renewals, no end: the replica died
  opened.splice(opened.indexOf(a), 1);
  const { end } = await readToEnd(reader);
  const tookMs = performance.now() - diedAt;
  expect(end.failure?.code).toBe(StatusCode.UNAVAILABLE);
  expect(end.failure?.message).toMatch(/^producer lost/);
  expect(end.failure?.details.reason).toBe('PRODUCER_LOST');
  expect(end.usage.completionTokens).toBe(2);
  expect(tookMs).toBeLessThan(1000 + 334 + 300);
});

it('a corrupt log entry ends its stream with INTERNAL and a log line; another stream goes on', async () => {
  const log = memoryLogger('info');
  const [a, b] = await replicas({ loggerOfB: log.logger });
  const bad = await a.create({ id: 'corrupt', model: 'm', abandonPolicy: 'keep' });
  const good = await a.create({ id: 'healthy', model: 'm', abandonPolicy: 'keep' });
  bad.append('fine');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const keys = streamKeys(`replicas${prefixes}`, 'corrupt');
  await redis.cli('XADD', keys.log, '1-1', 't', 'abc', 'l', '1,x');
  const reader = (await b.find('corrupt'))!.openReader(0);
  const goodReader = (await b.find('healthy'))!.openReader(0);
  const { tokens, end } = await readToEnd(reader);
  expect(tokens).toEqual(['fine']);
  expect(end.failure?.code).toBe(StatusCode.INTERNAL);
  expect(end.failure?.message).toMatch(/stream log entry 1-1 is corrupt/);
  await waitFor(() => log.lines.some((line) => line.includes('corrupt stream log entry')), 2000, 'the log line');
  await waitFor(() => bad.signal.aborted, 2000, "the corrupt stream's producer to stop");
  good.appendMany(['still', 'fine']);
  good.finish('stop');
  expect((await readToEnd(goodReader)).tokens).toEqual(['still', 'fine']);
});

it('a stream id that looks like a key pattern, a hash tag or a second line never reaches a key', () => {
  for (const id of ['a{b}', '*', 'a\nb', 'x}:meta', 'tokenrelay:{x}', '', 'a b']) {
    expect(() => streamKeys('p', id)).toThrow(expect.objectContaining({ code: StatusCode.INVALID_ARGUMENT }));
  }
  expect(streamKeys('p', 'ok.id:1-2_3').meta).toBe('p:{ok.id:1-2_3}:meta');
});
