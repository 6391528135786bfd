import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { httpRequest } from '../helpers/httpClient';
import { RedisServer } from '../helpers/redis';
import { collect, request, startTestServer, type TestServer, waitFor } from '../helpers/server';

/** The redis store's mechanisms show in /metrics: round trips, pipelines, reachability, lease takeovers. */

let redis: RedisServer;
let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  redis = await RedisServer.start();
  const config = { streams: { store: 'redis', resumeGraceMs: 5000 }, redis: { url: redis.url, keyPrefix: 'metrics', leaseMs: 1000 } };
  a = await startTestServer(config);
  b = await startTestServer(config);
  await waitFor(() => a.server.store.ready && b.server.store.ready, 5000, 'both stores to be ready');
});
afterAll(async () => {
  await a.close();
  await b.close();
  await redis.stop();
});

async function metric(server: TestServer, name: string): Promise<number> {
  const text = (await httpRequest(server.server.httpPort as number, '/metrics')).text;
  const line = text.split('\n').find((candidate) => candidate.startsWith(name));
  return line ? Number(line.split(' ').pop()) : NaN;
}

it('counts round trips by operation, pipeline sizes and reachability', async () => {
  await collect(a.client.generate(request({ model: 'sim', prompt: 'x', maxTokens: 100 })));
  expect(await metric(a, 'tokenrelay_redis_up')).toBe(1);
  expect(await metric(a, 'tokenrelay_redis_round_trip_seconds_count{op="create"}')).toBeGreaterThanOrEqual(1);
  expect(await metric(a, 'tokenrelay_redis_round_trip_seconds_count{op="append"}')).toBeGreaterThanOrEqual(1);
  expect(await metric(a, 'tokenrelay_redis_pipeline_commands_count')).toBeGreaterThanOrEqual(1);
});

it('counts a lease takeover on the replica a resumable publisher moves to', async () => {
  /** A raw Publish of `tokens` from `seq` to the resumable stream "moves"; half-closed when told. */
  const publishOn = (server: TestServer, tokens: string[], seq: number, halfClose: boolean) => {
    const call = server.newClient().publish(new Metadata(), () => undefined);
    call.on('error', () => undefined);
    call.write({ open: { streamId: 'moves', model: 'worker', resumable: true } });
    call.write({ chunk: TokenChunk.fromPartial({ seq, tokens }) });
    if (halfClose) call.end();
    return call;
  };
  const first = publishOn(a, ['a', 'b'], 0, false);
  await new Promise((resolve) => setTimeout(resolve, 200));
  first.cancel(); // the producer goes away without half-closing: the stream waits for it
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = await metric(b, 'tokenrelay_redis_lease_takeovers_total');
  publishOn(b, ['c'], 2, true);
  const deadline = Date.now() + 3000;
  while ((await metric(b, 'tokenrelay_redis_lease_takeovers_total')) === before && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await metric(b, 'tokenrelay_redis_lease_takeovers_total')).toBe(before + 1);
  const { tokens } = await collect(b.client.subscribe({ streamId: 'moves', fromSeq: 0 }));
  expect(tokens).toEqual(['a', 'b', 'c']);
});

it('stream ids that look like key patterns, hash tags or second lines are INVALID_ARGUMENT on every RPC, and no key is made for them', async () => {
  const before = await redis.cli('DBSIZE');
  for (const streamId of ['a{b}', '*', 'x\nFLUSHALL', 'metrics:{moves}:meta', '}']) {
    const generated = await collect(a.client.generate(request({ prompt: 'x', streamId })));
    expect(generated.error?.code).toBe(status.INVALID_ARGUMENT);
    const subscribed = await collect(a.client.subscribe({ streamId, fromSeq: 0 }));
    expect(subscribed.error?.code).toBe(status.INVALID_ARGUMENT);
    const cancelled = await new Promise<ServiceError | null>((resolve) =>
      a.client.cancel({ streamId }, (error: ServiceError | null) => resolve(error)),
    );
    expect(cancelled?.code).toBe(status.INVALID_ARGUMENT);
  }
  expect(await redis.cli('DBSIZE')).toBe(before);
});
