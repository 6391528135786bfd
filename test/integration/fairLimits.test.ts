import http2 from 'node:http2';
import net from 'node:net';
import { httpRequest } from '../helpers/httpClient';
import { collect, request, startTestServer, type TestServer, waitFor } from '../helpers/server';

// One client cannot take the capacity others need: a connection holds at most
// limits.maxStreamsPerConnection calls (advertised in HTTP/2 SETTINGS), and
// each port at most limits.maxConnections connections.

const PROMPT = 'A second connection still gets its first call.';

describe('limits.maxStreamsPerConnection', () => {
  let t: TestServer;
  beforeAll(async () => (t = await startTestServer({ limits: { maxConcurrentStreams: 8, maxStreamsPerConnection: 5 } })));
  afterAll(() => t.close());

  it('is sent to clients as SETTINGS_MAX_CONCURRENT_STREAMS', async () => {
    const session = http2.connect(`http://${t.address}`);
    try {
      const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
      expect(settings.maxConcurrentStreams).toBe(5);
    } finally {
      session.close();
    }
  });

  it('one connection that asks for every stream gets 5 of the 8; another connection’s call still runs, exactly', async () => {
    const greedy = t.newClient();
    const calls = Array.from({ length: 8 }, () => greedy.generate(request({ model: 'slow', prompt: PROMPT, maxTokens: 200 })));
    const ended = calls.map((call) => collect(call));
    await waitFor(() => t.server.store.activeCount === 5, 5000, 'five streams from the greedy connection');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(t.server.store.activeCount).toBe(5);

    const other = await collect(t.newClient().generate(request({ model: 'echo', prompt: PROMPT })));
    expect({ error: other.error, text: other.tokens.join('') }).toEqual({ error: undefined, text: PROMPT });

    // Cleanup: the calls grpc-js had queued behind the five may start as those end.
    for (const call of calls) call.cancel();
    await Promise.all(ended);
    await waitFor(() => t.server.store.activeCount === 0, 10_000, 'every stream to end');
  }, 30_000);
});

describe('limits.maxConnections', () => {
  let t: TestServer;
  beforeAll(async () => (t = await startTestServer({ limits: { maxConnections: 2 } })));
  afterAll(() => t.close());

  /** A plain TCP connection, open once connected. */
  const connect = (port: number) =>
    new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
      socket.once('error', reject);
    });

  /** Whether the server closes a fresh connection within a second (it is refused) or keeps it (it is served). */
  const refused = async (port: number) => {
    const socket = await connect(port);
    socket.on('error', () => undefined);
    const closed = await Promise.race([
      new Promise<boolean>((resolve) => socket.once('close', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000)),
    ]);
    socket.destroy();
    return closed;
  };

  it('closes connections past the limit on each port at once, counts them, and serves again when one closes', async () => {
    const grpcPort = Number(t.address.split(':')[1]);
    const httpPort = t.server.httpPort ?? 0;
    for (const [name, port] of [
      ['grpc', grpcPort],
      ['http', httpPort],
    ] as const) {
      const held = [await connect(port), await connect(port)];
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect({ port: name, refused: await refused(port) }).toEqual({ port: name, refused: true });
      held[0].destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect({ port: name, refused: await refused(port) }).toEqual({ port: name, refused: false });
      held[1].destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const metrics = await t.server.metrics.registry.metrics();
    expect(metrics).toMatch(/tokenrelay_connections_refused_total\{port="grpc"\} [1-9]/);
    expect(metrics).toMatch(/tokenrelay_connections_refused_total\{port="http"\} [1-9]/);
    // And a real client, once there is room.
    expect((await httpRequest(httpPort, '/healthz')).status).toBe(200);
  });
});
