import { Metadata } from '@grpc/grpc-js';
import { SseConnection } from '../helpers/httpSse';
import { httpRequest } from '../helpers/httpClient';
import { type ServerProcess, serveProcess } from '../helpers/process';
import { RedisServer } from '../helpers/redis';
import { collect, memoryLogger, request, startTestServer, type TestServer, waitFor } from '../helpers/server';

// What an operator reads in the first incident: every call's line names its
// stream, model and how it ended (and who cancelled it), on gRPC and HTTP
// alike, and the startup line says which config, auth, store, traces and TLS
// the process runs with, with no secret in it.

type Line = {
  msg: string;
  requestId?: string;
  streamId?: string;
  model?: string;
  finish?: string;
  cancelledBy?: string;
  [key: string]: unknown;
};

const log = memoryLogger();
let t: TestServer;
beforeAll(async () => (t = await startTestServer({}, { logger: log.logger })));
afterAll(() => t.close());

function withRequestId(id: string): Metadata {
  const metadata = new Metadata();
  metadata.set('x-request-id', id);
  return metadata;
}

/** The log line of the call or request with this request id, once it is written. */
async function lineOf(requestId: string, msg: 'call' | 'http request'): Promise<Line> {
  let found: Line | undefined;
  await waitFor(
    () => {
      found = log.lines.map((line) => JSON.parse(line) as Line).find((line) => line.msg === msg && line.requestId === requestId);
      return found !== undefined;
    },
    5000,
    `the ${msg} line of ${requestId}`,
  );
  return found as Line;
}

it('a Generate line names its stream, model and finish', async () => {
  const { chunks } = await collect(t.client.generate(request({ model: 'echo', prompt: 'logged' }), withRequestId('log-generate')));
  expect(await lineOf('log-generate', 'call')).toMatchObject({ streamId: chunks[0].streamId, model: 'echo', finish: 'stop', tokens: 1 });
});

it('a Generate stopped by a Cancel call says it was cancelled, and by whom', async () => {
  const call = t.client.generate(
    request({ model: 'slow', prompt: 'x', maxTokens: 1000, streamId: 'log-cancelled' }),
    withRequestId('log-victim'),
  );
  const ended = collect(call);
  await waitFor(() => (t.server.registry.get('log-cancelled')?.nextSeq ?? 0) >= 2, 5000, 'two tokens');
  await new Promise<void>((resolve, reject) =>
    t.client.cancel({ streamId: 'log-cancelled' }, withRequestId('log-canceller'), (error) => (error ? reject(error) : resolve())),
  );
  await ended;
  expect(await lineOf('log-victim', 'call')).toMatchObject({
    streamId: 'log-cancelled',
    model: 'slow',
    finish: 'cancelled',
    cancelledBy: 'cancel',
    code: 'CANCELLED',
  });
});

it('a Generate the client cancels says cancelledBy client', async () => {
  const call = t.client.generate(
    request({ model: 'slow', prompt: 'x', maxTokens: 1000, streamId: 'log-left' }),
    withRequestId('log-leaver'),
  );
  call.on('error', () => undefined);
  await new Promise<void>((resolve) => call.once('data', () => resolve()));
  call.cancel();
  expect(await lineOf('log-leaver', 'call')).toMatchObject({
    streamId: 'log-left',
    model: 'slow',
    cancelledBy: 'client',
    code: 'CANCELLED',
  });
});

it('an HTTP stream stopped by DELETE logs finish cancelled, cancelledBy delete, not just "200 completed"', async () => {
  const port = t.server.httpPort as number;
  const connection = await SseConnection.open(port, '/v1/chat/completions', {
    headers: { 'x-request-id': 'log-sse' },
    body: { model: 'slow', stream: true, max_tokens: 1000, messages: [{ role: 'user', content: 'x' }] },
  });
  await connection.next();
  const streamId = connection.headers['x-tokenrelay-stream-id'] as string;
  const deleted = await httpRequest(port, `/v1/streams/${streamId}`, { method: 'DELETE', headers: { 'x-request-id': 'log-delete' } });
  expect(deleted.status).toBe(200);
  await connection.rest();
  expect(await lineOf('log-sse', 'http request')).toMatchObject({
    streamId,
    model: 'slow',
    finish: 'cancelled',
    cancelledBy: 'delete',
    status: 200,
  });
});

describe('the startup line', () => {
  let redis: RedisServer | undefined;
  let served: ServerProcess | undefined;
  afterAll(async () => {
    served?.kill('SIGTERM');
    await served?.exit;
    await redis?.stop();
  });

  it('states the config, auth, store (its URL without the password), traces and TLS', async () => {
    redis = await RedisServer.start();
    const lines: string[] = [];
    const url = new URL(redis.url);
    url.username = 'default';
    url.password = 'hunter2-is-not-logged';
    served = await serveProcess(
      {
        streams: { store: 'redis' },
        redis: { url: url.toString() },
        auth: { principals: [{ name: 'frontend', tokens: ['frontend-token-0123456789'] }] },
      },
      0,
      { lines },
    );
    const startup = JSON.parse(lines.find((line) => line.includes('"tokenrelay serving"')) as string);
    expect(startup).toMatchObject({
      config: expect.stringMatching(/config\.json$/),
      auth: { principals: ['frontend'] },
      store: 'redis',
      redis: `redis://***:***@${url.host}`,
      traces: 'off',
      tls: 'off',
    });
    expect(lines.join('\n')).not.toContain('hunter2');
    expect(lines.join('\n')).not.toContain('frontend-token');
  });
});
