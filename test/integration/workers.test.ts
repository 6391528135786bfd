import { createClient } from '../../src/client';
import { tokenize } from '../../src/core/models/tokenizer';
import { type ServerProcess, serveProcess } from '../helpers/process';
import { PythonClient } from '../helpers/python';
import { RedisServer } from '../helpers/redis';
import { TcpProxy } from '../helpers/tcpProxy';
import { simPrefix } from '../helpers/tokens';

/**
 * `tokenrelay serve --workers 2` on the redis store: two processes on the
 * same ports, both serving, sharing their streams, with the TypeScript SDK
 * and a Python grpcio client.
 */

let redis: RedisServer;
let relay: ServerProcess;
let python: PythonClient;
const lines: string[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  python = await PythonClient.prepare();
  relay = await serveProcess(
    {
      models: [
        { name: 'paced', backend: 'sim', ttftMs: 0, interTokenMs: 10 },
        { name: 'echo', backend: 'echo' },
      ],
      defaultModel: 'paced',
      streams: { store: 'redis' },
      redis: { url: redis.url, leaseMs: 2000 },
    },
    0,
    { args: ['--workers', '2'], lines },
  );
  // serveProcess returns at the first worker's startup line; wait for the second's.
  const deadline = Date.now() + 10_000;
  while (lines.filter((line) => line.includes('"tokenrelay serving"')).length < 2) {
    if (Date.now() > deadline) throw new Error('the second worker never started');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});
afterAll(async () => {
  relay?.kill('SIGTERM');
  expect(await relay?.exit).toBe(0);
  python?.dispose();
  await redis?.stop();
});

const callLines = () =>
  lines.filter((line) => line.includes('"msg":"call"')).map((line) => JSON.parse(line) as { worker?: number; method: string });

it('both workers serve: calls over separate connections land on each', async () => {
  // Each client its own connection (grpc-js would otherwise share one subchannel between them).
  const clients = Array.from({ length: 8 }, () =>
    createClient(`127.0.0.1:${relay.grpcPort}`, { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } }),
  );
  try {
    for (const client of clients) await client.listModels();
    const deadline = Date.now() + 3000;
    while (new Set(callLines().map((line) => line.worker)).size < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect([...new Set(callLines().map((line) => line.worker))].sort()).toEqual([1, 2]);
  } finally {
    for (const client of clients) client.close();
  }
});

it('a TypeScript SDK stream resumes exactly across the workers after its connection is cut', async () => {
  const proxy = await TcpProxy.start(relay.grpcPort);
  const client = createClient(proxy.address, { backoff: { baseMs: 20, capMs: 200 } });
  try {
    const tokens: string[] = [];
    let cuts = 0;
    for await (const chunk of client.generate({ model: 'paced', prompt: 'x', maxTokens: 150, seed: 21 })) {
      tokens.push(...chunk.tokens);
      if (tokens.length >= 40 * (cuts + 1) && cuts < 3) {
        cuts++;
        proxy.sever(); // the next connection may land on the other worker
      }
    }
    expect(cuts).toBe(3);
    expect(tokens).toEqual(simPrefix(21, 150));
  } finally {
    client.close();
    await proxy.close();
  }
});

it('a Python grpcio client generates and runs a session against the workers', async () => {
  const prompt = 'Grüße from Python, through two workers 🚀';
  const output = await python.run<{
    generate: { tokens: string[] };
    session: { requests: Record<string, { tokens: string[]; errors: unknown[] }> };
  }>(`127.0.0.1:${relay.grpcPort}`, {
    generate: { model: 'echo', prompt },
    session: [
      { request_id: 'one', model: 'echo', prompt: 'first of two' },
      { request_id: 'two', model: 'echo', prompt: 'second of two' },
    ],
    ping: { request_id: 'p', nonce: 7 },
    timeout_s: 10,
  });
  expect(output.generate.tokens).toEqual(tokenize(prompt));
  expect(output.session.requests.one).toEqual({ ...output.session.requests.one, errors: [], tokens: tokenize('first of two') });
  expect(output.session.requests.two.tokens.join('')).toBe('second of two');
});
