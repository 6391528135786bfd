import { type ServiceError, status } from '@grpc/grpc-js';
import type { PublishRequest, PublishResponse } from '../../src/gen/tokenrelay/v1/data_service';
import { TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { RedisServer } from '../helpers/redis';
import { collect, startTestServer, type TestServer, waitFor } from '../helpers/server';
import { detailsOf } from '../helpers/statusDetails';

// Memory is bounded in bytes of token text, not only in token counts: a
// published stream holds at most limits.maxStreamBytes (a resumed publisher
// included), and the finished streams kept hold at most
// streams.maxRetainedBytes together, the oldest going first. Past the
// per-stream bound Publish is RESOURCE_EXHAUSTED and what was accepted stays
// readable. On both stores; on redis, across replicas.

const MAX_STREAM_BYTES = 2048;
const FACE = '😀'; // 4 bytes of UTF-8, 2 UTF-16 code units: the bound counts bytes

const open = (streamId: string, resumable = false): PublishRequest => ({ open: { streamId, model: 'external', resumable } });
const chunk = (seq: number, tokens: string[], finish = false): PublishRequest => ({
  chunk: TokenChunk.fromPartial({ seq, tokens, ...(finish ? { finishReason: 1 } : {}) }),
});
/** `count` tokens of `each` bytes. */
const tokensOf = (count: number, each: number): string[] =>
  Array.from({ length: count }, (_, i) => FACE.repeat(each / 4 - 1) + String(i % 10).repeat(4));

describe.each(['memory', 'redis'] as const)('byte bounds on the %s store', (store) => {
  let redis: RedisServer | undefined;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    if (store === 'redis') redis = await RedisServer.start();
    const config = {
      limits: { maxStreamBytes: MAX_STREAM_BYTES, maxPublishTokens: 600 },
      streams: { maxRetainedBytes: 2500, resumeGraceMs: 5000 },
      ...(redis ? { streams: { store: 'redis', maxRetainedBytes: 2500, resumeGraceMs: 5000 }, redis: { url: redis.url } } : {}),
    };
    a = await startTestServer(config);
    // On redis a second replica on the same log; on memory the same server again.
    b = redis ? await startTestServer(config) : a;
    if (redis) await waitFor(() => a.server.store.ready && b.server.store.ready, 5000, 'the redis stores');
  });
  afterAll(async () => {
    if (b !== a) await b?.close();
    await a?.close();
    await redis?.stop();
  });

  function publish(server: TestServer, messages: PublishRequest[], endCall = true) {
    let call: ReturnType<TestServer['client']['publish']> | undefined;
    const done = new Promise<{ response?: PublishResponse; error?: ServiceError }>((resolve) => {
      call = server.client.publish((error, response) => resolve(error ? { error } : { response }));
    });
    for (const message of messages) call?.write(message);
    if (endCall) call?.end();
    return { call: call as NonNullable<typeof call>, done };
  }

  it('past maxStreamBytes Publish is RESOURCE_EXHAUSTED naming the bound, and the tokens accepted stay readable', async () => {
    const id = `${store}-too-big`;
    const first = tokensOf(12, 128); // 1536 bytes
    const over = tokensOf(5, 128); // 640 more: 2176 > 2048
    const { done } = publish(a, [open(id), chunk(0, first), chunk(12, over)]);
    const { error } = await done;
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.details).toBe('chunk.tokens: the stream would hold 2176 bytes of token text, over limits.maxStreamBytes (2048)');
    const details = detailsOf(error);
    expect(details.errorInfo?.reason).toBe('STREAM_TOO_LARGE');
    expect(details.retryDelayMs).toBeUndefined(); // retrying cannot help
    const read = await collect(b.client.subscribe({ streamId: id, fromSeq: 0 }));
    expect(read.tokens).toEqual(first);
  });

  it('the bound counts bytes, not characters: 4-byte characters fill it four times as fast', async () => {
    const id = `${store}-faces`;
    const faces = Array.from({ length: 512 }, () => FACE); // 2048 bytes, 1024 UTF-16 code units
    const { done } = publish(a, [open(id), chunk(0, faces, true)]);
    const accepted = await done;
    expect(accepted.error?.details).toBeUndefined();
    expect(accepted.response?.tokensAccepted).toBe(512);
    const { error } = await publish(a, [open(`${id}-2`), chunk(0, [...faces, FACE])]).done;
    expect(error?.details).toBe('chunk.tokens: the stream would hold 2052 bytes of token text, over limits.maxStreamBytes (2048)');
  });

  it('a resumed publisher (on another replica, on redis) is held to what the stream already holds', async () => {
    const id = `${store}-resumed`;
    const first = tokensOf(12, 128); // 1536 bytes
    const dropped = publish(a, [open(id, true), chunk(0, first)], false);
    await new Promise((resolve) => setTimeout(resolve, 100));
    dropped.call.cancel(); // the publisher goes away without half-closing
    await dropped.done;
    // It comes back (on B) and resends from seq 12 a run that would pass the bound.
    let resumed: Awaited<ReturnType<typeof publish>['done']> = {};
    const deadline = Date.now() + 3000;
    do {
      resumed = await publish(b, [open(id, true), chunk(12, tokensOf(5, 128))]).done;
      // On redis B may see A's producer attached for a moment: UNAVAILABLE, retry.
    } while (resumed.error?.code === status.UNAVAILABLE && Date.now() < deadline);
    expect(resumed.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(resumed.error?.details).toBe('chunk.tokens: the stream would hold 2176 bytes of token text, over limits.maxStreamBytes (2048)');
  });

  it('past maxPublishTokens Publish is RESOURCE_EXHAUSTED too', async () => {
    const { error } = await publish(a, [
      open(`${store}-many`),
      chunk(
        0,
        Array.from({ length: 601 }, () => 'x'),
      ),
    ]).done;
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.details).toBe('chunk.tokens: the stream would hold 601 tokens, over limits.maxPublishTokens (600)');
    expect(detailsOf(error).errorInfo?.reason).toBe('STREAM_TOO_LARGE');
  });

  it('finished streams kept hold at most maxRetainedBytes together: the oldest goes first', async () => {
    const ids = [1, 2, 3].map((n) => `${store}-retained-${n}`);
    for (const id of ids) {
      const { response } = await publish(a, [open(id), chunk(0, tokensOf(8, 128), true)]).done; // 1024 bytes each
      expect(response?.tokensAccepted).toBe(8);
    }
    // 3 × 1024 > 2500: the first is dropped (on redis by the retire bookkeeping, just after the end).
    let found: boolean[] = [];
    const deadline = Date.now() + 3000;
    do {
      found = await Promise.all(
        ids.map(async (id) => (await collect(b.client.subscribe({ streamId: id, fromSeq: 0 }))).error === undefined),
      );
    } while (found[0] && Date.now() < deadline);
    expect(found).toEqual([false, true, true]);
    if (store === 'memory') {
      expect(a.server.registry.retainedBytes).toBeLessThanOrEqual(2500);
      const metrics = await a.server.metrics.registry.metrics();
      expect(metrics).toContain(`tokenrelay_retained_stream_bytes ${a.server.registry.retainedBytes}`);
    }
  });
});
