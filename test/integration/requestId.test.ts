import { type ClientReadableStream, Metadata, type StatusObject, status } from '@grpc/grpc-js';
import type { DataServiceClient, TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import type { TokenRelayServer } from '../../src/server/server';
import { ScriptedModel, sleep } from '../helpers/models';
import { collect, type Collected, memoryLogger, request, startTestServer, type TestServer, waitFor } from '../helpers/server';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

let t: TestServer;
let server: TokenRelayServer;
let client: DataServiceClient;
const { logger, lines } = memoryLogger('info');

beforeAll(async () => {
  t = await startTestServer({}, { logger });
  ({ server, client } = t);
});
afterAll(() => t.close());

interface Observed extends Collected {
  headers?: Metadata;
  trailers?: Metadata;
}

/** Collects a stream with its response headers and trailers. */
async function observe(call: ClientReadableStream<TokenChunk>): Promise<Observed> {
  let headers: Metadata | undefined;
  let trailers: Metadata | undefined;
  call.on('metadata', (metadata: Metadata) => (headers = metadata));
  const statusSeen = new Promise<void>((resolve) =>
    call.on('status', (received: StatusObject) => {
      trailers = received.metadata;
      resolve();
    }),
  );
  const collected = await collect(call);
  await statusSeen;
  return { ...collected, headers, trailers };
}

function metadataWith(entries: Record<string, string>): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(entries)) metadata.set(key, value);
  return metadata;
}

/** The parsed log lines whose requestId is id. */
function logLinesOf(id: string): Array<Record<string, unknown>> {
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.requestId === id);
}

describe('request id', () => {
  it('a client x-request-id is echoed in the response headers and trailers', async () => {
    const { tokens, error, headers, trailers } = await observe(
      client.generate(request({ model: 'echo', prompt: 'echo me' }), metadataWith({ 'x-request-id': 'req-echo-1' })),
    );
    expect(error).toBeUndefined();
    expect(tokens.join('')).toBe('echo me');
    expect(headers?.get('x-request-id')).toEqual(['req-echo-1']);
    expect(trailers?.get('x-request-id')).toEqual(['req-echo-1']);
  });

  it('is echoed in the trailers of an error status too', async () => {
    const { error, trailers } = await observe(
      client.generate(request({ model: 'no-such-model', prompt: 'x' }), metadataWith({ 'x-request-id': 'req-error-1' })),
    );
    expect(error?.code).toBe(status.NOT_FOUND);
    expect(trailers?.get('x-request-id')).toEqual(['req-error-1']);
    expect(error?.metadata.get('x-request-id')).toEqual(['req-error-1']);
  });

  it('is echoed on a unary call', async () => {
    const echoed = await new Promise<{ headers?: Metadata; trailers?: Metadata }>((resolve, reject) => {
      let headers: Metadata | undefined;
      const call = client.listModels({}, metadataWith({ 'x-request-id': 'req-unary-1' }), (error) => error && reject(error));
      call.on('metadata', (metadata) => (headers = metadata));
      call.on('status', (received) => resolve({ headers, trailers: received.metadata }));
    });
    expect(echoed.headers?.get('x-request-id')).toEqual(['req-unary-1']);
    expect(echoed.trailers?.get('x-request-id')).toEqual(['req-unary-1']);
  });

  it('a valid W3C traceparent gives its trace id as the request id', async () => {
    const { error, headers, trailers } = await observe(
      client.generate(request({ model: 'echo', prompt: 'traced' }), metadataWith({ traceparent: TRACEPARENT })),
    );
    expect(error).toBeUndefined();
    expect(headers?.get('x-request-id')).toEqual([TRACE_ID]);
    expect(trailers?.get('x-request-id')).toEqual([TRACE_ID]);
  });

  it('an x-request-id wins over a traceparent', async () => {
    const { headers } = await observe(
      client.generate(request({ model: 'echo', prompt: 'both' }), metadataWith({ 'x-request-id': 'req-both', traceparent: TRACEPARENT })),
    );
    expect(headers?.get('x-request-id')).toEqual(['req-both']);
  });

  it.each([
    ['a trace id that is not hex', '00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['an all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['a short trace id', '00-4bf92f3577b34da6-00f067aa0ba902b7-01'],
    ['garbage', 'not a traceparent at all'],
  ])('a malformed traceparent (%s) is ignored: a fresh UUID, and the call succeeds', async (_name, traceparent) => {
    const { tokens, error, headers, trailers } = await observe(
      client.generate(request({ model: 'echo', prompt: 'still works' }), metadataWith({ traceparent })),
    );
    expect(error).toBeUndefined();
    expect(tokens.join('')).toBe('still works');
    const id = headers?.get('x-request-id')[0];
    expect(id).toMatch(UUID);
    expect(trailers?.get('x-request-id')).toEqual([id]);
  });

  it('a call with neither gets a fresh UUID, a different one each call', async () => {
    const first = await observe(client.generate(request({ model: 'echo', prompt: 'a' })));
    const second = await observe(client.generate(request({ model: 'echo', prompt: 'b' })));
    const ids = [first.headers?.get('x-request-id')[0], second.headers?.get('x-request-id')[0]];
    expect(ids[0]).toMatch(UUID);
    expect(ids[1]).toMatch(UUID);
    expect(ids[0]).not.toBe(ids[1]);
  });

  it('an unprintable or overlong x-request-id is replaced by a fresh UUID', async () => {
    for (const given of ['has space', 'x'.repeat(129)]) {
      const { error, headers } = await observe(
        client.generate(request({ model: 'echo', prompt: 'z' }), metadataWith({ 'x-request-id': given })),
      );
      expect(error).toBeUndefined();
      expect(headers?.get('x-request-id')[0]).toMatch(UUID);
    }
  });
});

describe('request id in the logs', () => {
  it("appears in the call's log line, with the method, the status code and the tokens sent", async () => {
    const { tokens, error } = await collect(
      client.generate(request({ model: 'echo', prompt: 'log these tokens' }), metadataWith({ 'x-request-id': 'req-log-ok' })),
    );
    expect(error).toBeUndefined();
    await waitFor(() => logLinesOf('req-log-ok').length > 0, 2000, 'the call line');
    const [line] = logLinesOf('req-log-ok');
    expect(line).toMatchObject({
      msg: 'call',
      requestId: 'req-log-ok',
      method: '/tokenrelay.v1.DataService/Generate',
      code: 'OK',
      tokens: tokens.length,
    });
    expect(tokens.length).toBeGreaterThan(1);
  });

  it('a traceparent call and a failed call are logged under their ids, with the code and the details', async () => {
    await collect(client.generate(request({ model: 'echo', prompt: 'x' }), metadataWith({ traceparent: TRACEPARENT })));
    await collect(client.generate(request({ model: 'gpt-9', prompt: 'x' }), metadataWith({ 'x-request-id': 'req-log-404' })));
    await waitFor(() => logLinesOf(TRACE_ID).length > 0 && logLinesOf('req-log-404').length > 0, 2000, 'both call lines');
    expect(logLinesOf(TRACE_ID)[0]).toMatchObject({ msg: 'call', code: 'OK', method: '/tokenrelay.v1.DataService/Generate' });
    expect(logLinesOf('req-log-404')[0]).toMatchObject({
      msg: 'call',
      code: 'NOT_FOUND',
      tokens: 0,
      details: expect.stringMatching(/^model: no model named "gpt-9"/),
    });
  });

  it('every line logged for a call whose model fails carries its request id', async () => {
    server.models.register(
      new ScriptedModel('log-crash', async (sink) => {
        await sink.append('one');
        throw new Error('boom');
      }),
    );
    const before = lines.length;
    const { error } = await collect(
      client.generate(request({ model: 'log-crash', prompt: 'x' }), metadataWith({ 'x-request-id': 'req-log-crash' })),
    );
    expect(error?.code).toBe(status.INTERNAL);
    await waitFor(() => logLinesOf('req-log-crash').length > 0, 2000, 'the call line');
    await sleep(50);
    const written = lines.slice(before).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(written.map((line) => line.msg)).toEqual(expect.arrayContaining(['call failed']));
    expect(written.filter((line) => line.requestId !== 'req-log-crash').map((line) => line.msg)).toEqual([]);
  });
});
