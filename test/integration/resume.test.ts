import { createClient, type TokenRelayClient } from '../../src/client';
import { simPrefix as expected } from '../helpers/tokens';
import { startTestServer, type TestServer } from '../helpers/server';
import { TcpProxy } from '../helpers/tcpProxy';

let t: TestServer;
let proxy: TcpProxy;
let sdk: TokenRelayClient;

beforeAll(async () => {
  t = await startTestServer({ models: [{ name: 'paced', backend: 'sim', ttftMs: 0, interTokenMs: 3 }], defaultModel: 'paced' });
  proxy = await TcpProxy.start(t.server.grpcPort);
  sdk = createClient(proxy.address, { backoff: { baseMs: 20, capMs: 200 } });
});
afterAll(async () => {
  sdk.close();
  await proxy.close();
  await t.close();
});

describe('the SDK resumes a stream across a severed connection', () => {
  it('delivers every token exactly once, in order, when the connection is cut mid-stream', async () => {
    const stream = sdk.generate({ prompt: 'x', maxTokens: 300, seed: 21 });
    const tokens: string[] = [];
    const seqs: number[] = [];
    let severed = false;
    for await (const chunk of stream) {
      seqs.push(chunk.seq);
      tokens.push(...chunk.tokens);
      if (!severed && tokens.length >= 50) {
        severed = true;
        proxy.sever();
      }
    }
    expect(tokens).toEqual(expected(21, 300));
    expect(stream.reconnects).toBeGreaterThanOrEqual(1);
    expect(proxy.accepted).toBeGreaterThanOrEqual(2);
    // The stream on the server ran once, from one producer.
    expect(t.server.registry.get(stream.streamId)?.end?.reason).toBe('length');
  });

  it('survives several cuts in one stream', async () => {
    const stream = sdk.generate({ prompt: 'x', maxTokens: 400, seed: 5 });
    const tokens: string[] = [];
    const cutsAt = new Set([40, 120, 250]);
    for await (const chunk of stream) {
      const before = tokens.length;
      tokens.push(...chunk.tokens);
      for (const cut of cutsAt) {
        if (before < cut && tokens.length >= cut) {
          cutsAt.delete(cut);
          proxy.sever();
        }
      }
    }
    expect(tokens).toEqual(expected(5, 400));
    expect(stream.reconnects).toBeGreaterThanOrEqual(3);
  });

  it('a cut before the first token retries the Generate, which attaches to the same stream', async () => {
    const stream = sdk.generate({ prompt: 'x', maxTokens: 60, seed: 8 });
    const iterator = stream[Symbol.asyncIterator]();
    const first = iterator.next();
    await new Promise((resolve) => setImmediate(resolve));
    proxy.sever();
    const tokens: string[] = [];
    for (let result = await first; !result.done; result = await iterator.next()) tokens.push(...result.value.tokens);
    expect(tokens).toEqual(expected(8, 60));
  });
});
