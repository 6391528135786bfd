import { credentials } from '@grpc/grpc-js';
import { createClient } from '../../src/client';
import { DataServiceClient } from '../../src/gen/tokenrelay/v1/data_service';
import { ProbeModel } from '../helpers/probeModel';
import { collect, request, startTestServer, type TestServer, waitFor } from '../helpers/server';
import { TcpProxy } from '../helpers/tcpProxy';

let t: TestServer;
let probe: ProbeModel;
let proxy: TcpProxy;

beforeEach(async () => {
  t = await startTestServer({ keepalive: { timeMs: 200, timeoutMs: 200 }, streams: { heartbeatMs: 100 } });
  probe = new ProbeModel('probe', 20);
  t.server.models.register(probe);
  t.server.models.register(new ProbeModel('sleepy', 700));
  proxy = await TcpProxy.start(t.server.grpcPort);
});
afterEach(async () => {
  await proxy.close();
  await t.close();
});

describe('HTTP/2 keepalive', () => {
  it('the server drops a client that stopped answering pings, and its non-resumable stream is cancelled', async () => {
    const sdk = createClient(proxy.address);
    try {
      const stream = sdk.generate({ model: 'probe', prompt: 'x', maxTokens: 4000 }, { resume: false });
      const loop = (async () => {
        for await (const _chunk of stream) {
          // reading
        }
      })().catch((error: unknown) => error);
      await waitFor(() => (t.server.registry.get(stream.streamId)?.nextSeq ?? 0) > 3, 5000, 'tokens');
      const producer = t.server.registry.get(stream.streamId)!;
      proxy.freeze();
      await waitFor(() => producer.signal.aborted, 3000, 'the server to notice the dead client');
      expect(producer.end?.reason).toBe('cancelled');
      proxy.sever();
      await loop;
    } finally {
      sdk.close();
    }
  });

  it('the SDK’s pings find a dead connection and it resumes on a new one', async () => {
    const sdk = createClient(proxy.address, {
      channelOptions: { 'grpc.keepalive_time_ms': 200, 'grpc.keepalive_timeout_ms': 200 },
      backoff: { baseMs: 20, capMs: 100 },
    });
    try {
      const stream = sdk.generate({ model: 'probe', prompt: 'x', maxTokens: 120 }, { idleTimeoutMs: 60_000 });
      const tokens: string[] = [];
      let frozen = false;
      for await (const chunk of stream) {
        tokens.push(...chunk.tokens);
        if (!frozen && tokens.length >= 20) {
          frozen = true;
          proxy.freeze();
        }
      }
      expect(tokens).toEqual(Array.from({ length: 120 }, (_, index) => `word-${index} `));
      expect(stream.reconnects).toBeGreaterThanOrEqual(1);
      expect(proxy.accepted).toBeGreaterThanOrEqual(2);
    } finally {
      sdk.close();
    }
  });

  it('a client pinging every 100 ms on a long idle stream is not refused (no too_many_pings GOAWAY)', async () => {
    const client = new DataServiceClient(proxy.address, credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 100,
      'grpc.keepalive_timeout_ms': 1000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    try {
      const { tokens, error } = await collect(client.generate(request({ model: 'sleepy', prompt: 'x', maxTokens: 3 })));
      expect(error?.code).toBeUndefined();
      expect(tokens).toEqual(['word-0 ', 'word-1 ', 'word-2 ']);
      expect(proxy.accepted).toBe(1);
    } finally {
      client.close();
    }
  });
});
