import { type TokenRelayClient, createClient } from '../../src/client';
import { HOST_LIST_SCHEME } from '../../src/client/target';
import { type TestServer, startTestServer } from '../helpers/server';

/** ListModels calls this server finished with OK, from its own metrics. */
async function listModelsServed(t: TestServer): Promise<number> {
  const { values } = await t.server.metrics.calls.get();
  return values
    .filter((v) => String(v.labels.method).endsWith('/ListModels') && v.labels.code === 'OK')
    .reduce((sum, v) => sum + v.value, 0);
}

async function served(servers: TestServer[]): Promise<number[]> {
  return Promise.all(servers.map(listModelsServed));
}

/**
 * Calls until every server has answered once, so every connection is up:
 * round_robin only takes turns among the connections that are ready, and
 * the first calls go to whichever connected first.
 */
async function warmUp(sdk: TokenRelayClient, servers: TestServer[]): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if ((await served(servers)).every((count) => count > 0)) return;
    await sdk.listModels();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`round_robin never reached every server: ${await served(servers)}`);
}

describe('SDK: several addresses, balanced round_robin', () => {
  let a: TestServer;
  let b: TestServer;
  const clients: TokenRelayClient[] = [];
  const client = (...args: Parameters<typeof createClient>) => {
    const sdk = createClient(...args);
    clients.push(sdk);
    return sdk;
  };

  beforeEach(async () => {
    [a, b] = await Promise.all([startTestServer(), startTestServer()]);
  });

  afterEach(async () => {
    for (const sdk of clients.splice(0)) sdk.close();
    await Promise.all([a.close(), b.close()]);
  });

  const port = (t: TestServer) => t.server.grpcPort;

  it.each([
    ['an array of IP addresses (grpc-js ipv4:)', () => [a.address, b.address], 'ipv4:'],
    [
      'a comma-separated string of host names (the host-list resolver)',
      () => `localhost:${port(a)},localhost:${port(b)}`,
      `${HOST_LIST_SCHEME}:`,
    ],
  ])('spreads 20 ListModels calls evenly over both servers, given %s', async (_form, addresses, scheme) => {
    const sdk = client(addresses());
    expect(sdk.address.startsWith(scheme)).toBe(true);
    await warmUp(sdk, [a, b]);
    const before = await served([a, b]);
    for (let call = 0; call < 20; call++) await sdk.listModels();
    const after = await served([a, b]);
    // Both connections ready, so round_robin strictly alternates.
    expect([after[0] - before[0], after[1] - before[1]]).toEqual([10, 10]);
  });

  it('keeps answering from the live server after the other shuts down', async () => {
    const sdk = client([a.address, b.address]);
    await warmUp(sdk, [a, b]);
    await b.close();
    const before = await listModelsServed(a);
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => sdk.listModels()));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect((await listModelsServed(a)) - before).toBe(10);

    // A client that never saw the dead server up skips it too.
    const late = client(`localhost:${port(a)},localhost:${port(b)}`);
    for (let call = 0; call < 10; call++) await expect(late.listModels()).resolves.toHaveProperty('models');
    expect((await listModelsServed(a)) - before).toBe(20);
  });

  it('leaves out a listed host that does not resolve, and names it when none does', async () => {
    const sdk = client(`localhost:${port(a)},tokenrelay-test.invalid:${port(b)}`);
    for (let call = 0; call < 5; call++) await expect(sdk.listModels()).resolves.toHaveProperty('models');
    expect(await served([a, b])).toEqual([5, 0]);

    const lost = client('tokenrelay-test.invalid:1,tokenrelay-other.invalid:2', { backoff: { baseMs: 1, capMs: 5, maxAttempts: 2 } });
    await expect(lost.listModels()).rejects.toThrow(
      'UNAVAILABLE: Name resolution failed: could not resolve tokenrelay-test.invalid:1, tokenrelay-other.invalid:2',
    );
  });

  it('looks the hosts up again at once when the channel wakes from idle', async () => {
    // Idle destroys the resolver; its next lookup must not wait out the 30 s between re-resolutions.
    const sdk = client(`localhost:${port(a)},localhost:${port(b)}`, { channelOptions: { 'grpc.client_idle_timeout_ms': 1000 } });
    await warmUp(sdk, [a, b]);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const before = await served([a, b]);
    const startedMs = Date.now();
    for (let call = 0; call < 4; call++) await sdk.listModels();
    expect(Date.now() - startedMs).toBeLessThan(2000);
    const after = await served([a, b]);
    expect(after[0] - before[0] + after[1] - before[1]).toBe(4);
  });

  it('resolves dns:///localhost:PORT and calls the server behind it', async () => {
    const sdk = client(`dns:///localhost:${port(a)}`);
    expect(sdk.address).toBe(`dns:///localhost:${port(a)}`);
    for (let call = 0; call < 5; call++) await expect(sdk.listModels()).resolves.toHaveProperty('models');
    expect(await served([a, b])).toEqual([5, 0]);
  });

  it('keeps a single address exactly as given', async () => {
    const sdk = client(a.address);
    expect(sdk.address).toBe(a.address);
    await expect(sdk.listModels()).resolves.toHaveProperty('models');
  });

  it('rejects bad addresses with an Error naming the entry, before any call', () => {
    expect(() => createClient([])).toThrow('addresses: empty list');
    expect(() => createClient([a.address, ''])).toThrow('addresses[1]: empty entry');
    expect(() => createClient([a.address, 'foo'])).toThrow('addresses[1]: "foo" has no port');
    expect(() => createClient(`${a.address},localhost`)).toThrow('addresses[1]: "localhost" has no port');
    expect(() => createClient('dns:///a:1,b:2')).toThrow('dns: takes one name');
  });
});
