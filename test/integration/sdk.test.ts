import { Metadata, status } from '@grpc/grpc-js';
import { createClient, TokenRelayError, type TokenRelayClient } from '../../src/client';
import { TokenRelayServer } from '../../src/server/server';
import { parseConfig } from '../../src/core/config';
import { FinishReason } from '../../src/gen/tokenrelay/v1/data_service';
import { tokenize } from '../../src/core/models/tokenizer';
import pino from 'pino';
import { freePort } from '../helpers/process';
import { startTestServer, TEST_MODELS, type TestServer } from '../helpers/server';
import { TcpProxy } from '../helpers/tcpProxy';

let t: TestServer;
let sdk: TokenRelayClient;
beforeAll(async () => {
  t = await startTestServer({ streams: { resumeGraceMs: 5000 }, limits: { maxTokens: 200_000 } });
  sdk = createClient(t.address);
});
afterAll(async () => {
  sdk.close();
  await t.close();
});

async function tokensOf(iterable: AsyncIterable<{ tokens: string[] }>): Promise<string[]> {
  const tokens: string[] = [];
  for await (const chunk of iterable) tokens.push(...chunk.tokens);
  return tokens;
}

describe('the SDK', () => {
  it("a session whose loop stops reading holds a bounded buffer: the server's producer pauses, and every token still arrives in order", async () => {
    const session = sdk.session();
    const generation = session.start({ model: 'sim', prompt: 'x', maxTokens: 200_000, seed: 5 }, 'big');
    const iterator = generation[Symbol.asyncIterator]();
    const first = await iterator.next();
    const streamId = (first.value as { streamId: string }).streamId;
    await new Promise((resolve) => setTimeout(resolve, 500)); // the loop does not read
    const stream = t.server.registry.get(streamId);
    expect(stream?.producerPaused).toBe(true);
    expect(stream!.nextSeq).toBeLessThan(100_000);
    let count = (first.value as { tokens: string[] }).tokens.length;
    let seq = count;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      expect(next.value.seq).toBe(seq);
      seq += next.value.tokens.length;
      count += next.value.tokens.length;
    }
    expect(count).toBe(200_000);
    await session.close();
  });

  it('generate() yields the tokens with their stream id, hides heartbeats, ends after the final chunk', async () => {
    const stream = sdk.generate({ model: 'echo', prompt: 'SDK says hello' });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.flatMap((chunk) => chunk.tokens)).toEqual(tokenize('SDK says hello'));
    expect(chunks.every((chunk) => chunk.streamId === stream.streamId && !chunk.heartbeat)).toBe(true);
    expect(chunks.at(-1)?.finishReason).toBe(FinishReason.FINISH_REASON_STOP);
  });

  it('subscribe() follows another caller’s stream from a seq; leaving it leaves the stream running', async () => {
    const stream = sdk.generate({ model: 'slow', prompt: 'x', maxTokens: 30, seed: 4 });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    const follower = sdk.subscribe(stream.streamId, 0);
    for await (const chunk of follower) if (chunk.seq + chunk.tokens.length >= 5) break;
    const rest: string[] = [];
    for (let result = await iterator.next(); !result.done; result = await iterator.next()) rest.push(...result.value.tokens);
    expect(t.server.registry.get(stream.streamId)?.end?.reason).toBe('length');
    const replay = await tokensOf(sdk.subscribe(stream.streamId, 0));
    expect(replay).toHaveLength(30);
  });

  it('session() runs generations side by side, each its own iterable; cancel() ends one with CANCELLED', async () => {
    const session = sdk.session();
    const a = session.start({ model: 'echo', prompt: 'first in the session' }, 'a');
    const b = session.start({ model: 'slow', prompt: 'x', maxTokens: 1000 }, 'b');
    const firstTokens = await tokensOf(a);
    expect(firstTokens.join('')).toBe('first in the session');
    let seen = 0;
    const outcome = await (async () => {
      try {
        for await (const chunk of b) {
          seen += chunk.tokens.length;
          if (seen >= 2) b.cancel();
        }
        return 'finished';
      } catch (error) {
        return (error as TokenRelayError).code;
      }
    })();
    expect(outcome).toBe(status.CANCELLED);
    expect(await session.ping()).toBeGreaterThanOrEqual(0);
    await session.close();
  });

  it('publish() resends after a cut connection: a subscriber sees every token once, in order', async () => {
    const proxy = await TcpProxy.start(t.server.grpcPort);
    const publisher = createClient(proxy.address, { backoff: { baseMs: 20, capMs: 100 } });
    try {
      const words = Array.from({ length: 200 }, (_, index) => `w${index} `);
      async function* source() {
        for (const [index, word] of words.entries()) {
          if (index === 80) proxy.sever();
          if (index % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
          yield word;
        }
      }
      const publishing = publisher.publish('sdk-published', source(), { model: 'worker' });
      await new Promise((resolve) => setTimeout(resolve, 30));
      const subscribed = tokensOf(sdk.subscribe('sdk-published', 0));
      const response = await publishing;
      expect(response).toMatchObject({ streamId: 'sdk-published', tokensAccepted: 200, nextSeq: 200 });
      expect(await subscribed).toEqual(words);
      expect(proxy.accepted).toBeGreaterThanOrEqual(2);
    } finally {
      publisher.close();
      await proxy.close();
    }
  });

  it('listModels() is retried while the server is unreachable, and succeeds once it is up', async () => {
    const port = await freePort();
    const early = createClient(`127.0.0.1:${port}`, { backoff: { baseMs: 50, capMs: 200, maxAttempts: 30 } });
    const late = new Promise<TokenRelayServer>((resolve) =>
      setTimeout(
        () =>
          void TokenRelayServer.start({
            config: parseConfig({ models: TEST_MODELS }),
            logger: pino({ level: 'silent' }),
            host: '127.0.0.1',
            grpcPort: port,
            httpPort: null,
          }).then(resolve),
        400,
      ),
    );
    try {
      const models = await early.listModels();
      expect(models.models.map((model) => model.name)).toEqual(['echo', 'sim', 'slow']);
    } finally {
      early.close();
      await (await late).shutdown();
    }
  });

  it('an expired deadline is a clear DEADLINE_EXCEEDED before anything is sent', async () => {
    const before = t.server.registry.activeCount + t.server.registry.retainedCount;
    await expect(tokensOf(sdk.generate({ model: 'echo', prompt: 'x' }, { deadlineMs: 0 }))).rejects.toMatchObject({
      code: status.DEADLINE_EXCEEDED,
      details: 'deadlineMs: 0 ms has already passed',
    });
    expect(t.server.registry.activeCount + t.server.registry.retainedCount).toBe(before);
  });

  it('a deadline that passes mid-stream is DEADLINE_EXCEEDED, not retried', async () => {
    await expect(tokensOf(sdk.generate({ model: 'slow', prompt: 'x', maxTokens: 1000 }, { deadlineMs: 200 }))).rejects.toMatchObject({
      code: status.DEADLINE_EXCEEDED,
    });
  });

  it('a bad request is its status, not retried', async () => {
    await expect(tokensOf(sdk.generate({ model: 'nope', prompt: 'x' }))).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it('propagates the caller’s x-request-id, and sets one when the caller has none', async () => {
    const metadata = new Metadata();
    metadata.set('x-request-id', 'caller-chosen-id');
    const echoed = await new Promise<string[]>((resolve) => {
      const call = sdk.raw.listModels({}, metadata, () => undefined);
      call.on('metadata', (headers) => resolve(headers.get('x-request-id') as string[]));
    });
    expect(echoed).toEqual(['caller-chosen-id']);
    const generated = await new Promise<string[]>((resolve) => {
      const call = sdk.raw.listModels({}, new Metadata(), () => undefined);
      call.on('metadata', (headers) => resolve(headers.get('x-request-id') as string[]));
    });
    expect(generated[0]).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('the SDK against a server with auth', () => {
  it('sends its token; a wrong token is a clear UNAUTHENTICATED', async () => {
    const secured = await startTestServer({ auth: { tokens: ['correct-horse-battery-staple'] } });
    const good = createClient(secured.address, { token: 'correct-horse-battery-staple' });
    const bad = createClient(secured.address, { token: 'wrong-token-wrong-token' });
    try {
      expect((await good.listModels()).defaultModel).toBe('sim');
      expect(await tokensOf(good.generate({ model: 'echo', prompt: 'let me in' }))).toEqual(tokenize('let me in'));
      await expect(bad.listModels()).rejects.toMatchObject({ code: status.UNAUTHENTICATED, details: 'missing or invalid bearer token' });
      await expect(tokensOf(bad.generate({ model: 'echo', prompt: 'x' }))).rejects.toBeInstanceOf(TokenRelayError);
    } finally {
      good.close();
      bad.close();
      await secured.close();
    }
  });
});
