import { credentials, Metadata, status } from '@grpc/grpc-js';
import { DataServiceClient } from '../../src/gen/tokenrelay/v1/data_service';
import { createClient } from '../../src/client';
import { type ServerProcess, serveProcess } from '../helpers/process';
import { RedisCluster } from '../helpers/redis';
import { collect, request, waitFor } from '../helpers/server';
import { simPrefix } from '../helpers/tokens';

/**
 * The redis store runs unchanged on a Redis Cluster: three real nodes made
 * with redis-cli --cluster create, two relay processes pointed at one of
 * them. Every key of a stream shares its hash tag, so each stream's scripts
 * run on one node, and different streams spread over the nodes.
 */

let cluster: RedisCluster;
const relays: ServerProcess[] = [];

beforeAll(async () => {
  cluster = await RedisCluster.start(3);
  const config = {
    models: [{ name: 'paced', backend: 'sim', ttftMs: 0, interTokenMs: 5 }],
    streams: { store: 'redis' },
    redis: { url: cluster.url, cluster: true, leaseMs: 2000 },
  };
  for (let index = 0; index < 2; index++) {
    const lines: string[] = [];
    relays.push(await serveProcess(config, 0, { lines }));
    await waitFor(() => lines.some((line) => line.includes('"redis connected"')), 10_000, 'the relay to reach the cluster');
  }
}, 60_000);
afterAll(async () => {
  for (const relay of relays) relay.kill('SIGKILL');
  await Promise.all(relays.map((relay) => relay.exit));
  await cluster?.stop();
});

it('streams produced on one relay are read, resumed and cancelled from the other, and spread over the nodes', async () => {
  const [a, b] = relays;
  const onA = new DataServiceClient(`127.0.0.1:${a.grpcPort}`, credentials.createInsecure());
  const onB = new DataServiceClient(`127.0.0.1:${b.grpcPort}`, credentials.createInsecure());
  const sdk = createClient([`127.0.0.1:${a.grpcPort}`, `127.0.0.1:${b.grpcPort}`]);
  try {
    // Twelve finished streams: each readable from the other relay, exactly.
    const ids = Array.from({ length: 12 }, (_, index) => `cluster-${index}`);
    await Promise.all(ids.map((id, index) => collect(onA.generate(request({ prompt: 'x', maxTokens: 30, seed: index, streamId: id })))));
    for (const [index, id] of ids.entries()) {
      const { tokens, error } = await collect(onB.subscribe({ streamId: id, fromSeq: 7 }));
      expect(error).toBeUndefined();
      expect(tokens).toEqual(simPrefix(index, 30).slice(7));
    }
    // The streams' keys are on more than one node.
    const holders = await Promise.all(cluster.nodes.map(async (node) => Number(await node.cli('DBSIZE'))));
    expect(holders.filter((count) => count > 0).length).toBeGreaterThan(1);

    // A live stream on A, cancelled from B.
    const live = collect(onA.generate(request({ prompt: 'x', maxTokens: 3000, streamId: 'cluster-live' })));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const cancelled = await new Promise<{ cancelled: boolean }>((resolve, reject) =>
      onB.cancel({ streamId: 'cluster-live' }, new Metadata(), (error, value) => (error ? reject(error) : resolve(value))),
    );
    expect(cancelled.cancelled).toBe(true);
    expect((await live).error?.code).toBe(status.CANCELLED);

    // The SDK over both relays.
    const tokens: string[] = [];
    for await (const chunk of sdk.generate({ prompt: 'x', maxTokens: 60, seed: 99 })) tokens.push(...chunk.tokens);
    expect(tokens).toEqual(simPrefix(99, 60));
  } finally {
    onA.close();
    onB.close();
    sdk.close();
  }
}, 60_000);
