import { credentials, status } from '@grpc/grpc-js';
import { DataServiceClient, FinishReason, type TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { paced, ScriptedModel } from '../helpers/models';
import { collect, expectContiguous, request, startTestServer, type TestServer } from '../helpers/server';
import { TcpProxy } from '../helpers/tcpProxy';

const TOKENS = ['Slow', ' and', ' steady', ' wins'];

/** Checks every heartbeat: no tokens, no finish, and the seq of the next token to come. */
function expectHeartbeatsAtNextSeq(chunks: TokenChunk[], streamId: string): void {
  let next = 0;
  for (const chunk of chunks) {
    if (chunk.heartbeat) {
      expect(chunk).toMatchObject({ streamId, seq: next, tokens: [], finishReason: FinishReason.FINISH_REASON_UNSPECIFIED });
    } else {
      next += chunk.tokens.length;
    }
  }
}

describe('heartbeats (heartbeatMs 100)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ streams: { heartbeatMs: 100 } });
    t.server.models.register(new ScriptedModel('every-350', paced(TOKENS, 350)));
    t.server.models.register(new ScriptedModel('every-600', paced(TOKENS, 600)));
  });
  afterAll(() => t.close());

  it('a model slower than the heartbeat: heartbeats carry the next seq, every token arrives in order, the stream completes', async () => {
    const { chunks, tokens, error } = await collect(t.client.generate(request({ model: 'every-350', prompt: 'x', streamId: 'hb-slow' })));
    expect(error).toBeUndefined();
    const heartbeats = chunks.filter((chunk) => chunk.heartbeat);
    const real = chunks.filter((chunk) => !chunk.heartbeat);
    // Four gaps of 350 ms with a 100 ms interval: several heartbeats in each.
    expect(heartbeats.length).toBeGreaterThanOrEqual(4);
    expectHeartbeatsAtNextSeq(chunks, 'hb-slow');
    // Heartbeats come between tokens, not only before or after them.
    const seqsWithHeartbeats = new Set(heartbeats.map((chunk) => chunk.seq));
    expect([...seqsWithHeartbeats].sort()).toEqual([0, 1, 2, 3]);
    expect(tokens).toEqual(TOKENS);
    expectContiguous(real);
    expect(real[real.length - 1]).toMatchObject({
      finishReason: FinishReason.FINISH_REASON_STOP,
      usage: { completionTokens: 4 },
      heartbeat: false,
    });
    expect(chunks[chunks.length - 1].heartbeat).toBe(false); // nothing after the end
  });

  it('a stream faster than the heartbeat gets none', async () => {
    const fast = await collect(t.client.generate(request({ model: 'sim', prompt: 'x', maxTokens: 2000 })));
    expect(fast.error).toBeUndefined();
    expect(fast.tokens).toHaveLength(2000);
    expect(fast.chunks.filter((chunk) => chunk.heartbeat)).toEqual([]);
    // Longer than the interval in all (about 300 ms), but never 100 ms without a token.
    const paced20 = await collect(t.client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 15 })));
    expect(paced20.error).toBeUndefined();
    expect(paced20.tokens).toHaveLength(15);
    expect(paced20.chunks.filter((chunk) => chunk.heartbeat)).toEqual([]);
  });

  it('keep a stream alive through an idle-timeout proxy: it completes and the proxy cuts nothing', async () => {
    const proxy = await TcpProxy.start(t.server.grpcPort, { idleTimeoutMs: 300 });
    const client = new DataServiceClient(proxy.address, credentials.createInsecure());
    try {
      const { chunks, tokens, error } = await collect(client.generate(request({ model: 'every-600', prompt: 'x', streamId: 'hb-proxy' })));
      expect(error).toBeUndefined();
      expect(tokens).toEqual(TOKENS);
      expectContiguous(chunks.filter((chunk) => !chunk.heartbeat));
      expect(chunks.some((chunk) => chunk.heartbeat)).toBe(true);
      expect(proxy.idleCuts).toBe(0);
      expect(proxy.accepted).toBe(1);
    } finally {
      client.close();
      await proxy.close();
    }
  });
});

describe('without heartbeats (heartbeatMs 60000)', () => {
  it('the idle-timeout proxy cuts the same stream: the call fails', async () => {
    const t = await startTestServer({ streams: { heartbeatMs: 60_000 } });
    t.server.models.register(new ScriptedModel('every-600', paced(TOKENS, 600)));
    const proxy = await TcpProxy.start(t.server.grpcPort, { idleTimeoutMs: 300 });
    const client = new DataServiceClient(proxy.address, credentials.createInsecure());
    try {
      const { tokens, error } = await collect(client.generate(request({ model: 'every-600', prompt: 'x', streamId: 'no-hb' })));
      expect(error).toBeDefined();
      expect([status.UNAVAILABLE, status.INTERNAL]).toContain(error?.code);
      expect(tokens.length).toBeLessThan(TOKENS.length);
      expect(proxy.idleCuts).toBeGreaterThanOrEqual(1);
    } finally {
      client.close();
      await proxy.close();
      await t.close();
    }
  });
});
