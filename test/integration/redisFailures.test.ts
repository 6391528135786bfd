import { status } from '@grpc/grpc-js';
import { DataServiceClient } from '../../src/gen/tokenrelay/v1/data_service';
import { credentials } from '@grpc/grpc-js';
import { httpRequest } from '../helpers/httpClient';
import { freePort, type ServerProcess, serveProcess } from '../helpers/process';
import { RedisServer } from '../helpers/redis';
import { type Collected, collect, expectContiguous, request, waitFor } from '../helpers/server';

/**
 * Redis failing under a real relay process: loud and bounded, never silent
 * loss. Unreachable at start, the relay serves but is not ready; lost
 * mid-stream, the streams it served end with UNAVAILABLE and no call hangs;
 * back, new streams work without a restart.
 */

const relays: ServerProcess[] = [];
const servers: RedisServer[] = [];
afterEach(async () => {
  for (const relay of relays.splice(0)) {
    relay.kill('SIGKILL');
    await relay.exit;
  }
  for (const server of servers.splice(0)) await server.stop();
});

function config(url: string): Record<string, unknown> {
  return {
    models: [{ name: 'paced', backend: 'sim', ttftMs: 0, interTokenMs: 10 }],
    streams: { store: 'redis' },
    redis: { url, leaseMs: 1000, commandTimeoutMs: 500, connectTimeoutMs: 500 },
  };
}

/** A redis-server and a relay on it, both stopped after the test; a client of the relay, closed by the test. */
async function relayOnNewRedis(): Promise<{ redis: RedisServer; relay: ServerProcess; client: DataServiceClient }> {
  const redis = await RedisServer.start();
  servers.push(redis);
  const relay = await serveProcess(config(redis.url));
  relays.push(relay);
  return { redis, relay, client: new DataServiceClient(`127.0.0.1:${relay.grpcPort}`, credentials.createInsecure()) };
}

/** A long paced Generate: its chunks and tokens, and the error it ends with. */
function longGeneration(client: DataServiceClient, seed: number): Promise<Collected> {
  return collect(client.generate(request({ prompt: 'x', maxTokens: 3000, seed })));
}

async function readyz(relay: ServerProcess): Promise<number> {
  return (await httpRequest(relay.httpPort, '/readyz')).status;
}

it('Redis unreachable at start: the relay serves, /readyz is 503, calls get UNAVAILABLE, the log says why; once Redis is up, streams work without a restart', async () => {
  const port = await freePort();
  const lines: string[] = [];
  const relay = await serveProcess(config(`redis://127.0.0.1:${port}`), 0, { lines });
  relays.push(relay);
  const client = new DataServiceClient(`127.0.0.1:${relay.grpcPort}`, credentials.createInsecure());
  try {
    expect(await readyz(relay)).toBe(503);
    const refused = await collect(client.generate(request({ prompt: 'x', maxTokens: 3 })));
    expect(refused.error?.code).toBe(status.UNAVAILABLE);
    expect(refused.error?.details).toBe('the stream store (redis) is unreachable; retry later');
    await waitFor(() => lines.some((line) => line.includes('redis connection failed; retrying with backoff')), 5000, 'the log line');
    servers.push(await RedisServer.start({ port }));
    await waitFor(() => lines.some((line) => line.includes('"redis connected"')), 10_000, 'the relay to connect');
    expect(await readyz(relay)).toBe(200);
    const { tokens, error } = await collect(client.generate(request({ prompt: 'x', maxTokens: 5 })));
    expect(error).toBeUndefined();
    expect(tokens).toHaveLength(5);
  } finally {
    client.close();
  }
}, 30_000);

it('Redis killed mid-stream: the stream ends with UNAVAILABLE (no hang, no token twice), /readyz is 503; Redis restarted: new streams work', async () => {
  const { redis, relay, client } = await relayOnNewRedis();
  try {
    await waitFor(() => true, 10);
    expect(await readyz(relay)).toBe(200);
    const flowing = longGeneration(client, 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const killedAt = performance.now();
    await redis.kill();
    const lost = await flowing;
    expect(performance.now() - killedAt).toBeLessThan(3000);
    expect(lost.error?.code).toBe(status.UNAVAILABLE);
    expect(lost.error?.details).toMatch(/the stream log is unavailable/);
    // Every token once, in order, before the status.
    expectContiguous(lost.chunks);
    expect(lost.tokens.length).toBeGreaterThan(5);
    await waitFor(() => true, 10);
    expect(await readyz(relay)).toBe(503);
    await redis.restart();
    const deadline = Date.now() + 10_000;
    while ((await readyz(relay)) !== 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await readyz(relay)).toBe(200);
    const { tokens, error } = await collect(client.generate(request({ prompt: 'x', maxTokens: 5 })));
    expect(error).toBeUndefined();
    expect(tokens).toHaveLength(5);
  } finally {
    client.close();
  }
}, 30_000);

it('Redis frozen (SIGSTOP) mid-stream: the stream and a new call end with UNAVAILABLE within the command timeout, no hang; thawed, new streams work', async () => {
  const { redis, client } = await relayOnNewRedis();
  try {
    const flowing = longGeneration(client, 3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The connection stays up while Redis answers nothing: only a timeout on every command written can end the wait.
    redis.signal('SIGSTOP');
    const frozenAt = performance.now();
    const { chunks, tokens, error } = await flowing;
    // commandTimeoutMs is 500: well inside the lease (1000) and far from a hang.
    expect(performance.now() - frozenAt).toBeLessThan(2500);
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(error?.details).toMatch(/^the stream log is unavailable: redis did not answer \w+ within 500 ms$/);
    expectContiguous(chunks);
    expect(tokens.length).toBeGreaterThan(5);
    // New calls while frozen, with a fresh id and with one the client chose (whose create is awaited): refused
    // within the timeout too, as UNAVAILABLE to retry, never INTERNAL.
    for (const streamId of ['', 'frozen-chosen']) {
      const startedAt = performance.now();
      const refused = await collect(client.generate(request({ prompt: 'x', maxTokens: 3, streamId })));
      expect(performance.now() - startedAt).toBeLessThan(2500);
      expect(refused.error?.code).toBe(status.UNAVAILABLE);
      expect(refused.error?.details).toMatch(/^the stream log is unavailable: redis did not answer \w+ within 500 ms$/);
      expect(refused.tokens).toEqual([]);
    }
    redis.signal('SIGCONT');
    const deadline = Date.now() + 10_000;
    let after = await collect(client.generate(request({ prompt: 'x', maxTokens: 5 })));
    while (after.error && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await collect(client.generate(request({ prompt: 'x', maxTokens: 5 })));
    }
    expect(after.error).toBeUndefined();
    expect(after.tokens).toHaveLength(5);
  } finally {
    redis.signal('SIGCONT');
    client.close();
  }
}, 30_000);
