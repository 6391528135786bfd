import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { CancelResponse, PublishRequest, PublishResponse } from '../../src/gen/tokenrelay/v1/data_service';
import { TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { httpRequest } from '../helpers/httpClient';
import { RedisServer } from '../helpers/redis';
import { collect, memoryLogger, request, startTestServer, type TestServer, waitFor } from '../helpers/server';

// Callers own their streams: with principals configured, a stream belongs to
// the principal that created it, and another principal gets NOT_FOUND for it
// (exactly as for an id that does not exist) from Subscribe, Cancel, the
// events route and DELETE, and cannot attach to it, reopen it or replace it;
// a principal with "all" (a worker) and the plain token list ("default")
// reach every stream. On both stores.

const FRONTEND = 'frontend-token-0123456789';
const BACKEND = 'backend-token-0123456789';
const WORKER = 'worker-token-0123456789';
const LEGACY = 'legacy-token-0123456789';
const PROMPT = 'Streams belong to whoever started them.';

const AUTH = {
  tokens: [LEGACY],
  principals: [
    { name: 'frontend', tokens: [FRONTEND] },
    { name: 'backend', tokens: [BACKEND], streams: 'own' },
    { name: 'worker', tokens: [WORKER], streams: 'all' },
  ],
};

function as(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

describe.each(['memory', 'redis'] as const)('stream ownership on the %s store', (store) => {
  let redis: RedisServer | undefined;
  let t: TestServer;
  const log = memoryLogger();

  beforeAll(async () => {
    if (store === 'redis') redis = await RedisServer.start();
    t = await startTestServer(
      { auth: AUTH, ...(redis ? { streams: { store: 'redis' }, redis: { url: redis.url } } : {}) },
      { logger: log.logger },
    );
    if (redis) await waitFor(() => t.server.store.ready, 5000, 'the redis store');
  });

  afterAll(async () => {
    await t?.close();
    await redis?.stop();
  });

  const subscribe = (id: string, token: string) => collect(t.client.subscribe({ streamId: id, fromSeq: 0 }, as(token)));
  const cancel = (id: string, token: string) =>
    new Promise<{ response?: CancelResponse; error?: ServiceError }>((resolve) =>
      t.client.cancel({ streamId: id }, as(token), (error, response) => resolve(error ? { error } : { response })),
    );
  const publish = (token: string, messages: PublishRequest[]) =>
    new Promise<{ response?: PublishResponse; error?: ServiceError }>((resolve) => {
      const call = t.client.publish(as(token), (error, response) => resolve(error ? { error } : { response }));
      for (const message of messages) call.write(message);
      call.end();
    });

  it('Subscribe: the owner, a worker and the default principal read it; another principal gets the unknown-id NOT_FOUND', async () => {
    const id = `${store}-owned`;
    const started = await collect(t.client.generate(request({ model: 'echo', prompt: PROMPT, streamId: id }), as(FRONTEND)));
    expect(started.error).toBeUndefined();
    expect(started.tokens.join('')).toBe(PROMPT);
    for (const token of [FRONTEND, WORKER, LEGACY]) expect((await subscribe(id, token)).tokens).toEqual(started.tokens);

    const refused = await subscribe(id, BACKEND);
    const unknown = await subscribe(`${store}-never-was`, BACKEND);
    expect({ code: refused.error?.code, tokens: refused.tokens }).toEqual({ code: status.NOT_FOUND, tokens: [] });
    expect(refused.error?.details).toBe(unknown.error?.details.replace(`${store}-never-was`, id));

    // Nor may it attach to it with the same request, or start it again.
    const attach = await collect(t.client.generate(request({ model: 'echo', prompt: PROMPT, streamId: id }), as(BACKEND)));
    expect({ code: attach.error?.code, tokens: attach.tokens }).toEqual({ code: status.ALREADY_EXISTS, tokens: [] });
  });

  it('Cancel: another principal gets NOT_FOUND and the stream goes on; the owner cancels it', async () => {
    const id = `${store}-live`;
    const follower = collect(t.client.generate(request({ model: 'slow', prompt: PROMPT, streamId: id, maxTokens: 200 }), as(FRONTEND)));
    await waitFor(() => t.server.store.activeCount > 0, 5000, 'the stream to start');
    expect((await cancel(id, BACKEND)).error?.code).toBe(status.NOT_FOUND);
    expect((await cancel(id, FRONTEND)).response).toEqual({ streamId: id, cancelled: true });
    const { error, tokens } = await follower;
    expect(error?.code).toBe(status.CANCELLED);
    expect(tokens.length).toBeLessThan(200);
  }, 30_000);

  it('Publish: another principal cannot take the id, live or finished, nor reopen a resumable stream; a worker may', async () => {
    const id = `${store}-published`;
    const open = (resumable: boolean): PublishRequest => ({ open: { streamId: id, model: 'external', resumable } });
    const chunk = (seq: number, tokens: string[]): PublishRequest => ({ chunk: TokenChunk.fromPartial({ seq, tokens }) });
    // The frontend's producer sends two tokens and goes away without finishing: a resumable stream waits for it.
    const call = t.client.publish(as(FRONTEND), () => undefined);
    call.on('error', () => undefined);
    call.write(open(true));
    call.write(chunk(0, ['a', 'b']));
    await new Promise((resolve) => setTimeout(resolve, 300));
    call.cancel();
    await new Promise((resolve) => setTimeout(resolve, 200));

    const stolen = await publish(BACKEND, [open(true), chunk(2, ['stolen'])]);
    expect(stolen.error?.code).toBe(status.ALREADY_EXISTS);
    const worker = await publish(WORKER, [open(true), chunk(2, ['c'])]);
    expect(worker.response).toEqual({ streamId: id, tokensAccepted: 1, nextSeq: 3 });
    expect((await subscribe(id, FRONTEND)).tokens).toEqual(['a', 'b', 'c']);
    expect((await subscribe(id, BACKEND)).error?.code).toBe(status.NOT_FOUND);
    // Finished now: nobody may publish under its id again, the owner included.
    expect((await publish(FRONTEND, [open(false), chunk(0, ['x'])])).error?.code).toBe(status.ALREADY_EXISTS);
  }, 30_000);

  it('HTTP: the events route and DELETE are 404 for another principal, as for an unknown stream', async () => {
    const id = `${store}-http`;
    await collect(t.client.generate(request({ model: 'echo', prompt: PROMPT, streamId: id }), as(FRONTEND)));
    const port = t.server.httpPort ?? 0;
    const events = (token: string) => httpRequest(port, `/v1/streams/${id}/events`, { headers: { authorization: `Bearer ${token}` } });
    const own = await events(FRONTEND);
    expect({ status: own.status, type: own.headers['content-type'] }).toEqual({ status: 200, type: 'text/event-stream; charset=utf-8' });
    expect((await events(BACKEND)).status).toBe(404);
    const remove = (token: string) =>
      httpRequest(port, `/v1/streams/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect((await remove(BACKEND)).status).toBe(404);
    expect((await remove(FRONTEND)).json()).toEqual({ id, object: 'stream', cancelled: false });
  });

  it('names the principal on each call’s log line and in the per-principal metrics', async () => {
    await collect(t.client.generate(request({ model: 'echo', prompt: PROMPT }), as(BACKEND)));
    const lines = log.lines.map((line) => JSON.parse(line) as { msg: string; principal?: string; method?: string });
    expect(lines.some((line) => line.msg === 'call' && line.principal === 'backend' && line.method?.endsWith('/Generate'))).toBe(true);
    const metrics = await t.server.metrics.registry.metrics();
    expect(metrics).toMatch(/tokenrelay_principal_calls_total\{principal="backend",code="OK"\} [1-9]/);
    expect(metrics).toMatch(/tokenrelay_principal_tokens_relayed_total\{principal="frontend"\} [1-9]/);
  });
});

it('a token shared by two principals, or a duplicate name, is a config error', async () => {
  await expect(
    startTestServer({
      auth: {
        principals: [
          { name: 'a', tokens: [FRONTEND] },
          { name: 'b', tokens: [FRONTEND] },
        ],
      },
    }),
  ).rejects.toThrow('auth.principals[1]: a token of principal "b" is also one of "a"');
  await expect(startTestServer({ auth: { principals: [{ name: 'a' }, { name: 'a' }] } })).rejects.toThrow(
    'auth.principals[1].name: duplicate principal name "a"',
  );
});
