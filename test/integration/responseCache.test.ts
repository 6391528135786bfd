import type { ClientReadableStream } from '@grpc/grpc-js';
import { parseConfig } from '../../src/core/config';
import type { TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { httpRequest } from '../helpers/httpClient';
import { ProbeModel } from '../helpers/probeModel';
import { RedisServer } from '../helpers/redis';
import { collect, request, startTestServer, type TestServer, waitFor } from '../helpers/server';

// The response cache: an identical deterministic request (a fixed seed, or
// temperature 0) within the TTL is answered from the first one's finished
// stream without running the model again, and its usage says so. Never for
// a request that differs, one that is not deterministic, one that names its
// own stream, or after a generation that did not finish. On the redis store
// every replica answers from the same entries.

describe.each(['memory', 'redis'] as const)('the response cache on the %s store', (store) => {
  let redis: RedisServer | undefined;
  let a: TestServer;
  let b: TestServer;
  let probeA: ProbeModel;
  let probeB: ProbeModel;

  beforeAll(async () => {
    if (store === 'redis') redis = await RedisServer.start();
    const config = {
      cache: { ttlMs: 60_000 },
      ...(redis ? { streams: { store: 'redis' }, redis: { url: redis.url } } : {}),
    };
    a = await startTestServer(config);
    b = redis ? await startTestServer(config) : a;
    if (redis) await waitFor(() => a.server.store.ready && b.server.store.ready, 5000, 'the redis stores');
    probeA = new ProbeModel('probe', 1);
    a.server.models.register(probeA);
    probeB = b === a ? probeA : new ProbeModel('probe', 1);
    if (b !== a) b.server.models.register(probeB);
  });
  afterAll(async () => {
    if (b !== a) await b?.close();
    await a?.close();
    await redis?.stop();
  });

  const runs = () => probeA.runs.length + (probeB === probeA ? 0 : probeB.runs.length);
  const finalUsage = (chunks: TokenChunk[]) => chunks.at(-1)?.usage;

  it('an identical request with a seed is answered from the first one, on any replica, and says cached_tokens', async () => {
    const before = runs();
    const first = await collect(a.client.generate(request({ model: 'probe', prompt: 'cache me', maxTokens: 12, seed: 7 })));
    expect(first.tokens).toHaveLength(12);
    expect(finalUsage(first.chunks)).toMatchObject({ completionTokens: 12, cachedTokens: 0 });
    const second = await collect(b.client.generate(request({ model: 'probe', prompt: 'cache me', maxTokens: 12, seed: 7 })));
    expect(second.error).toBeUndefined();
    expect(second.tokens).toEqual(first.tokens);
    expect(finalUsage(second.chunks)).toMatchObject({ completionTokens: 12, cachedTokens: 12 });
    expect(runs() - before).toBe(1); // the model ran once
    const metrics = await b.server.metrics.registry.metrics();
    expect(metrics).toMatch(/tokenrelay_cache_total\{result="hit"\} [1-9]/);
  });

  it('temperature 0 is deterministic too; a request that differs in any field is not answered from the cache', async () => {
    const before = runs();
    const ask = (fields: Parameters<typeof request>[0]) =>
      collect(a.client.generate(request({ model: 'probe', prompt: 'greedy', maxTokens: 5, temperature: 0, ...fields })));
    await ask({});
    await ask({}); // cached
    await ask({ maxTokens: 6 });
    await ask({ prompt: 'greedy!' });
    await ask({ stop: ['x'] });
    expect(runs() - before).toBe(4);
  });

  it('never for a request that is not deterministic, or that names its own stream_id', async () => {
    const before = runs();
    await collect(a.client.generate(request({ model: 'probe', prompt: 'random', maxTokens: 3 })));
    await collect(a.client.generate(request({ model: 'probe', prompt: 'random', maxTokens: 3 })));
    await collect(a.client.generate(request({ model: 'probe', prompt: 'own', maxTokens: 3, seed: 1, streamId: `${store}-own-1` })));
    await collect(a.client.generate(request({ model: 'probe', prompt: 'own', maxTokens: 3, seed: 1, streamId: `${store}-own-2` })));
    expect(runs() - before).toBe(4);
  });

  it('never from a generation that did not finish: a cancelled one is generated again', async () => {
    const before = runs();
    // Started, its first token read, then cancelled: twice, the same request.
    for (let attempt = 0; attempt < 2; attempt++) {
      const call: ClientReadableStream<TokenChunk> = a.client.generate(
        request({ model: 'probe', prompt: 'stopped', maxTokens: 4000, seed: 3 }),
      );
      call.on('error', () => undefined);
      await new Promise<void>((resolve) => call.once('data', () => resolve()));
      call.cancel();
      await waitFor(() => a.server.store.activeCount === 0, 5000, 'the cancelled stream to end');
    }
    expect(runs() - before).toBe(2);
  });

  it('over HTTP: the second identical chat completion says x-tokenrelay-cache: hit and prompt_tokens_details.cached_tokens', async () => {
    const body = { model: 'probe', seed: 11, max_tokens: 4, messages: [{ role: 'user', content: 'cache over http' }] };
    const first = await httpRequest(a.server.httpPort as number, '/v1/chat/completions', { method: 'POST', body });
    const second = await httpRequest(b.server.httpPort as number, '/v1/chat/completions', { method: 'POST', body });
    expect(first.headers['x-tokenrelay-cache']).toBeUndefined();
    expect(first.json().usage.prompt_tokens_details).toBeUndefined();
    expect(second.headers['x-tokenrelay-cache']).toBe('hit');
    expect(second.json().choices[0].message.content).toBe(first.json().choices[0].message.content);
    expect(second.json().usage).toMatchObject({
      completion_tokens: 4,
      prompt_tokens_details: { cached_tokens: first.json().usage.prompt_tokens },
    });
  });
});

it('the cache is off by default and its TTL has a documented range', () => {
  expect(parseConfig({}).cache).toEqual({ ttlMs: 0, maxEntries: 1000 });
  expect(() => parseConfig({ cache: { ttlMs: 86_400_001 } })).toThrow(/^cache\.ttlMs: must be a whole number from 0 to 86400000/);
});
