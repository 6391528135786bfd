import { status } from '@grpc/grpc-js';
import { FinishReason } from '../../src/gen/tokenrelay/v1/data_service';
import { tokenize } from '../../src/core/models/tokenizer';
import { RedisServer } from '../helpers/redis';
import { collect, expectContiguous, request, startTestServer, type TestServer, waitFor } from '../helpers/server';

let t: TestServer;

const PROMPT = 'The quick brown fox jumps over the lazy dog, then naps in the sun.';

async function finishedStream(streamId: string): Promise<string[]> {
  const { tokens, error } = await collect(t.client.generate(request({ model: 'echo', prompt: PROMPT, streamId })));
  expect(error).toBeUndefined();
  return tokens;
}

/** The same behaviour on both stores: the memory store, and the redis store on a real redis-server. */
describe.each(['memory', 'redis'] as const)('Subscribe on the %s store', (store) => {
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    if (store === 'redis') redis = await RedisServer.start();
    t = await startTestServer(redis ? { streams: { store: 'redis' }, redis: { url: redis.url } } : {});
    await waitFor(() => t.server.store.ready, 5000, 'the store to be ready');
  });
  afterAll(async () => {
    await t.close();
    await redis?.stop();
  });

  it('replays a finished stream from 0 with the same tokens, seqs and usage', async () => {
    const original = await finishedStream('replay-1');
    const { chunks, tokens, error } = await collect(t.client.subscribe({ streamId: 'replay-1', fromSeq: 0 }));
    expect(error).toBeUndefined();
    expect(tokens).toEqual(original);
    expectContiguous(chunks);
    expect(chunks[chunks.length - 1].finishReason).toBe(FinishReason.FINISH_REASON_STOP);
    expect(chunks[chunks.length - 1].usage?.completionTokens).toBe(tokenize(PROMPT).length);
  });

  it('resumes from the middle: exactly the rest, in order', async () => {
    const original = await finishedStream('replay-2');
    const from = 5;
    const { chunks, tokens } = await collect(t.client.subscribe({ streamId: 'replay-2', fromSeq: from }));
    expect(tokens).toEqual(original.slice(from));
    expectContiguous(chunks, from);
  });

  it('from exactly the end gives only the final chunk', async () => {
    const original = await finishedStream('replay-3');
    const { chunks, error } = await collect(t.client.subscribe({ streamId: 'replay-3', fromSeq: original.length }));
    expect(error).toBeUndefined();
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toMatchObject({ seq: original.length, tokens: [], finishReason: FinishReason.FINISH_REASON_STOP });
  });

  it('past the end of a finished stream is OUT_OF_RANGE naming from_seq', async () => {
    const original = await finishedStream('replay-4');
    const { error } = await collect(t.client.subscribe({ streamId: 'replay-4', fromSeq: original.length + 1 }));
    expect(error?.code).toBe(status.OUT_OF_RANGE);
    expect(error?.details).toMatch(/^from_seq: /);
  });

  it('an unknown stream is NOT_FOUND naming stream_id', async () => {
    const { error } = await collect(t.client.subscribe({ streamId: 'no-such-stream', fromSeq: 0 }));
    expect(error?.code).toBe(status.NOT_FOUND);
    expect(error?.details).toMatch(/^stream_id: /);
  });

  it('several subscribers follow one live stream, each getting every token once', async () => {
    const generate = collect(t.client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 30, seed: 3, streamId: 'fanout-1' })));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [a, b, source] = await Promise.all([
      collect(t.client.subscribe({ streamId: 'fanout-1', fromSeq: 0 })),
      collect(t.newClient().subscribe({ streamId: 'fanout-1', fromSeq: 0 })),
      generate,
    ]);
    expect(source.tokens).toHaveLength(30);
    expect(a.tokens).toEqual(source.tokens);
    expect(b.tokens).toEqual(source.tokens);
    expectContiguous(a.chunks);
    expectContiguous(b.chunks);
  });

  it('past the current end of a live stream waits for that token, then gives exactly the rest', async () => {
    const generate = collect(t.client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 30, seed: 8, streamId: 'ahead-1' })));
    await new Promise((resolve) => setTimeout(resolve, 60)); // a few tokens in, far from 20
    const { chunks, tokens, error } = await collect(t.client.subscribe({ streamId: 'ahead-1', fromSeq: 20 }));
    const source = await generate;
    expect(error).toBeUndefined();
    expect(tokens).toEqual(source.tokens.slice(20));
    expectContiguous(chunks, 20);
  });

  it('past the end of a live stream that then ends short of it is OUT_OF_RANGE', async () => {
    const generate = collect(t.client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 10, streamId: 'ahead-2' })));
    await new Promise((resolve) => setTimeout(resolve, 40));
    const { tokens, error } = await collect(t.client.subscribe({ streamId: 'ahead-2', fromSeq: 25 }));
    await generate;
    expect(tokens).toEqual([]);
    expect(error?.code).toBe(status.OUT_OF_RANGE);
    expect(error?.details).toBe('from_seq: 25 is past the end of finished stream ahead-2, which has 10 tokens');
  });
});
