import { type ClientReadableStream, credentials, type ServiceError, status } from '@grpc/grpc-js';
import { DataServiceClient, FinishReason, type TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { collect, expectContiguous, request, startTestServer, type TestServer, waitFor } from '../helpers/server';
import { TcpProxy } from '../helpers/tcpProxy';

const STREAMS = 1000;

let t: TestServer;
let proxy: TcpProxy;
let client: DataServiceClient;
beforeAll(async () => {
  // Every stream of the storm shares one connection: let it hold them all (the default keeps 1,000 for one connection).
  t = await startTestServer({ limits: { maxStreamsPerConnection: 10_000 } });
  proxy = await TcpProxy.start(t.server.grpcPort);
  client = new DataServiceClient(proxy.address, credentials.createInsecure());
});
afterAll(async () => {
  client.close();
  await proxy.close();
  await t.close();
});

interface Tracked {
  call: ClientReadableStream<TokenChunk>;
  firstChunk: Promise<void>;
  ended: Promise<ServiceError | undefined>;
}

function open(id: string): Tracked {
  const call = client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 1000, streamId: id }));
  const firstChunk = new Promise<void>((resolve) => call.once('data', () => resolve()));
  call.on('data', () => undefined);
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    call.on('error', (error: ServiceError) => resolve(error));
    call.on('end', () => resolve(undefined));
  });
  return { call, firstChunk, ended };
}

/** Opens STREAMS streams on the client, waits until each has a token, cancels them all at once, and checks both ends. */
async function storm(prefix: string): Promise<void> {
  const ids = Array.from({ length: STREAMS }, (_, i) => `${prefix}-${i}`);
  const calls = ids.map(open);
  await Promise.all(calls.map((tracked) => tracked.firstChunk));
  // Held here: the registry retains only so many ended streams.
  const streams = ids.map((id) => t.server.registry.get(id));
  expect(streams.every((stream) => stream !== undefined && stream.end === undefined)).toBe(true);
  // All at once: one burst of RST_STREAM frames on the connection.
  for (const tracked of calls) tracked.call.cancel();
  const errors = await Promise.all(calls.map((tracked) => tracked.ended));
  for (const error of errors) expect(error?.code).toBe(status.CANCELLED);
  // Every stream on the server saw the cancel and stopped its producer.
  await waitFor(() => streams.every((stream) => stream?.end !== undefined), 20_000, 'every cancelled stream to end');
  expect(streams.map((stream) => stream?.end?.reason).filter((reason) => reason !== 'cancelled')).toEqual([]);
  expect(streams.every((stream) => stream?.signal.aborted)).toBe(true);
}

describe('stop-button storm', () => {
  it('1,000 streams on one connection cancelled at once: all CANCELLED on both ends, the connection and its other streams survive', async () => {
    // Warm the one connection first, so every call below shares it.
    expect((await collect(client.generate(request({ model: 'echo', prompt: 'warm' })))).error).toBeUndefined();
    const survivor = collect(client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 100, streamId: 'storm-survivor' })));
    await storm('storm');

    // The stream that shared the connection was not hurt.
    const { tokens, chunks, error } = await survivor;
    expect(error).toBeUndefined();
    expect(tokens).toHaveLength(100);
    expectContiguous(chunks);
    expect(t.server.registry.activeCount).toBe(0);

    // And a stream opened afterwards on the same client completes, on the same connection.
    const after = await collect(client.generate(request({ model: 'sim', prompt: 'x', maxTokens: 300 })));
    expect(after.error).toBeUndefined();
    expect(after.tokens).toHaveLength(300);
    expect(after.chunks[after.chunks.length - 1].finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
    expect(proxy.accepted).toBe(1);
    // Seconds here; several times that on a slow CI machine, where storms of streams run slowest.
  }, 90_000);

  // Raw resets past Node 20's fixed allowance (1,000, then 33/s per connection)
  // do tear a connection down; Node 22 lets the server raise it. The SDK never
  // gets there: stopButtons.test.ts stops 1,500 streams at once with Cancel.
});
