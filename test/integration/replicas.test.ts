import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { createClient } from '../../src/client';
import type { TokenRelayError } from '../../src/client/errors';
import { DataServiceClient, type TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { credentials } from '@grpc/grpc-js';
import { streamKeys } from '../../src/core/streams/redis/keys';
import { httpRequest } from '../helpers/httpClient';
import { SseConnection } from '../helpers/httpSse';
import { type ServerProcess, serveProcess } from '../helpers/process';
import { RedisServer } from '../helpers/redis';
import { collect, request } from '../helpers/server';
import { detailsOf } from '../helpers/statusDetails';
import { TcpProxy } from '../helpers/tcpProxy';
import { simPrefix } from '../helpers/tokens';

/**
 * Several tokenrelay processes on one real redis-server: what survives a
 * replica going away (SIGTERM, SIGKILL, SIGSTOP), and what one replica does
 * to a stream another produces. Every relay here is a real process on real
 * loopback ports.
 */

const LEASE_MS = 1000;
let redis: RedisServer;
const relays: ServerProcess[] = [];
let prefixes = 0;

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterEach(async () => {
  for (const relay of relays.splice(0)) {
    relay.kill('SIGKILL');
    await relay.exit;
  }
});
afterAll(() => redis.stop());

/** A relay config on the shared Redis; relays of one test share a key prefix. */
function replicaConfig(keyPrefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    models: [
      { name: 'paced', backend: 'sim', ttftMs: 0, interTokenMs: 20 },
      { name: 'sim', backend: 'sim', ttftMs: 0, interTokenMs: 0 },
    ],
    defaultModel: 'paced',
    streams: { store: 'redis', resumeGraceMs: 5000 },
    redis: { url: redis.url, keyPrefix, leaseMs: LEASE_MS },
    shutdownGraceMs: 15_000,
    ...extra,
  };
}

async function replica(keyPrefix: string, grpcPort = 0, extra: Record<string, unknown> = {}): Promise<ServerProcess> {
  const relay = await serveProcess(replicaConfig(keyPrefix, extra), grpcPort);
  relays.push(relay);
  return relay;
}

const address = (relay: ServerProcess) => `127.0.0.1:${relay.grpcPort}`;

function rawClient(relay: ServerProcess): DataServiceClient {
  return new DataServiceClient(address(relay), credentials.createInsecure());
}

it('rolling deploy: 200 SDK streams over two replicas; one gets SIGTERM mid-stream and a new one takes its port; every stream equals an uninterrupted run', async () => {
  const prefix = `deploy${++prefixes}`;
  const a = await replica(prefix);
  const b = await replica(prefix);
  const client = createClient([address(a), address(b)]);
  const STREAMS = 200;
  const TOKENS = 80;
  try {
    const runs = Array.from({ length: STREAMS }, async (_, index) => {
      const tokens: string[] = [];
      for await (const chunk of client.generate({ model: 'paced', prompt: 'x', maxTokens: TOKENS, seed: index }))
        tokens.push(...chunk.tokens);
      return tokens;
    });
    await new Promise((resolve) => setTimeout(resolve, 600)); // every stream is flowing
    const aPort = a.grpcPort;
    a.kill('SIGTERM');
    expect(await a.exit).toBe(0); // it drained: its streams produced to the end, then it stopped
    relays.push(await serveProcess(replicaConfig(prefix), aPort)); // the new version takes the old one's port
    const results = await Promise.all(runs);
    for (const [index, tokens] of results.entries()) expect({ index, tokens }).toEqual({ index, tokens: simPrefix(index, TOKENS) });
  } finally {
    client.close();
  }
}, 60_000);

it('an external producer moves: Publish to A, SIGKILL A mid-stream, the SDK publisher continues on B, and a subscriber on B sees every token exactly once', async () => {
  const prefix = `publisher${++prefixes}`;
  const a = await replica(prefix);
  const b = await replica(prefix);
  const proxy = await TcpProxy.start(a.grpcPort); // the publisher's way in: to A first, then (after A dies) to B
  const publisher = createClient(proxy.address, { backoff: { baseMs: 50, capMs: 500, maxAttempts: 30, maxTotalMs: 20_000 } });
  const reader = createClient(address(b));
  const TOKENS = Array.from({ length: 150 }, (_, index) => `tok${index} `);
  try {
    const subscribed = (async () => {
      const seen: string[] = [];
      // The stream exists once the publisher opened it: retry the subscribe until then.
      for (let attempt = 0; ; attempt++) {
        try {
          for await (const chunk of reader.subscribe('moving-producer', seen.length)) seen.push(...chunk.tokens);
          return seen;
        } catch (error) {
          if ((error as TokenRelayError).code !== status.NOT_FOUND || attempt > 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    })();
    let killed = false;
    const source = (async function* () {
      for (const [index, token] of TOKENS.entries()) {
        if (index === 60 && !killed) {
          killed = true;
          a.kill('SIGKILL');
          await a.exit;
          proxy.retarget(b.grpcPort);
          proxy.sever();
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
        yield token;
      }
    })();
    const published = await publisher.publish('moving-producer', source, { model: 'worker' });
    expect(published.nextSeq).toBe(TOKENS.length);
    expect(await subscribed).toEqual(TOKENS);
  } finally {
    publisher.close();
    reader.close();
    await proxy.close();
  }
}, 60_000);

it('an embedded producer dies: SIGKILL A; a reader on B gets the exact prefix, then UNAVAILABLE "producer lost", within the lease and one renewal', async () => {
  const prefix = `dies${++prefixes}`;
  const a = await replica(prefix);
  const b = await replica(prefix);
  const generating = rawClient(a);
  const following = rawClient(b);
  try {
    const generated = collect(
      generating.generate(request({ model: 'paced', prompt: 'x', maxTokens: 500, seed: 4, streamId: 'doomed', resumable: true })),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const followed = new Promise<{ tokens: string[]; error?: { code?: number; details?: string }; at: number }>((resolve) => {
      const call = following.subscribe({ streamId: 'doomed', fromSeq: 0 });
      const tokens: string[] = [];
      call.on('data', (chunk: TokenChunk) => tokens.push(...chunk.tokens));
      call.on('error', (error: { code?: number; details?: string }) => resolve({ tokens, error, at: performance.now() }));
      call.on('end', () => resolve({ tokens, at: performance.now() }));
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const killedAt = performance.now();
    a.kill('SIGKILL');
    const { tokens, error, at } = await followed;
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(error?.details).toMatch(/^producer lost/);
    // Read from the stream log on B, the failure keeps its reason: B never saw A's StreamFailure.
    expect(detailsOf(error as ServiceError)).toMatchObject({ errorInfo: { reason: 'PRODUCER_LOST' }, retryDelayMs: 1000 });
    expect(tokens.length).toBeGreaterThan(10);
    expect(tokens).toEqual(simPrefix(4, tokens.length));
    expect(at - killedAt).toBeLessThan(LEASE_MS + LEASE_MS / 3 + 500);
    await generated;
  } finally {
    generating.close();
    following.close();
  }
}, 30_000);

it('fencing: a producer SIGSTOPped past its lease, then continued, adds nothing to its stream, nor to a new stream that reuses the id', async () => {
  const prefix = `fenced${++prefixes}`;
  const a = await replica(prefix);
  const b = await replica(prefix);
  const generating = rawClient(a);
  const onB = rawClient(b);
  try {
    const generated = collect(
      generating.generate(request({ model: 'paced', prompt: 'x', maxTokens: 1000, seed: 9, streamId: 'paused', resumable: true })),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    a.child.kill('SIGSTOP');
    // B notices the lease ran out: the stream ends with UNAVAILABLE "producer lost".
    const lost = await collect(onB.subscribe({ streamId: 'paused', fromSeq: 0 }));
    expect(lost.error?.details).toMatch(/^producer lost/);
    const keys = streamKeys(prefix, 'paused');
    const lengthAtLoss = Number(await redis.cli('XLEN', keys.log));
    // A new stream reuses the id (a retry of a failed generation starts again) while A is still stopped.
    const reused = collect(
      onB.generate(request({ model: 'paced', prompt: 'y', maxTokens: 40, seed: 10, streamId: 'paused', resumable: true })),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    a.child.kill('SIGCONT');
    await new Promise((resolve) => setTimeout(resolve, 500)); // A's stale writes, if any, would land now
    const { tokens, error } = await reused;
    expect(error).toBeUndefined();
    expect(tokens).toEqual(simPrefix(10, 40)); // nothing of A's
    // The first stream's entries (in the log before it was reused) were never appended to after the loss.
    expect(lengthAtLoss).toBeGreaterThan(2);
    const replay = await collect(onB.subscribe({ streamId: 'paused', fromSeq: 0 }));
    expect(replay.tokens).toEqual(simPrefix(10, 40));
    const ended = await generated;
    expect(ended.error?.code).toBe(status.UNAVAILABLE);
  } finally {
    a.child.kill('SIGCONT');
    generating.close();
    onB.close();
  }
}, 30_000);

it('cross-replica cancel: a Cancel on B stops the producer on A within 100 ms; DELETE on B does the same; an SSE stream resumes on B', async () => {
  const prefix = `cancel${++prefixes}`;
  const a = await replica(prefix);
  const b = await replica(prefix);
  const onA = rawClient(a);
  const onB = rawClient(b);
  try {
    for (const how of ['Cancel', 'DELETE'] as const) {
      const id = `cancel-by-${how}`;
      const followed = new Promise<{ tokens: number; usage?: number; code?: number; at: number }>((resolve) => {
        const call = onA.generate(request({ model: 'paced', prompt: 'x', maxTokens: 1000, streamId: id }));
        let tokens = 0;
        call.on('data', (chunk: TokenChunk) => (tokens += chunk.tokens.length));
        call.on('error', (error: { code?: number }) => resolve({ tokens, code: error.code, at: performance.now() }));
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const cancelledAt = performance.now();
      if (how === 'Cancel') {
        const response = await new Promise<{ cancelled: boolean }>((resolve, reject) =>
          onB.cancel({ streamId: id }, new Metadata(), (error, value) => (error ? reject(error) : resolve(value))),
        );
        expect(response.cancelled).toBe(true);
      } else {
        const reply = await httpRequest(b.httpPort, `/v1/streams/${id}`, { method: 'DELETE' });
        expect(reply.json()).toEqual({ id, object: 'stream', cancelled: true });
      }
      const { code, at } = await followed;
      expect(code).toBe(status.CANCELLED);
      expect(at - cancelledAt).toBeLessThan(100);
    }

    // SSE: a resumable chat completion on A, dropped after a few events, resumed from Last-Event-ID on B.
    const body = {
      model: 'paced',
      max_tokens: 30,
      seed: 6,
      stream: true,
      resumable: true,
      stream_id: 'sse-moves',
      messages: [{ role: 'user', content: 'x' }],
    };
    const first = await SseConnection.open(a.httpPort, '/v1/chat/completions', { body, headers: { 'content-type': 'application/json' } });
    const seen: string[] = [];
    let lastId = '';
    for (;;) {
      const event = await first.next();
      if (!event || event.id === undefined) continue;
      seen.push(JSON.parse(event.data).choices[0].delta.content);
      lastId = event.id;
      if (Number(lastId) >= 5) break;
    }
    first.destroy();
    const resumed = await SseConnection.open(b.httpPort, '/v1/streams/sse-moves/events', { headers: { 'last-event-id': lastId } });
    let rest = '';
    for (let event = await resumed.next(); event && event.event !== 'end'; event = await resumed.next()) {
      rest += (JSON.parse(event.data).tokens as string[]).join('');
    }
    expect(seen.join('') + rest).toBe(simPrefix(6, 30).join(''));
  } finally {
    onA.close();
    onB.close();
  }
}, 30_000);
