import { type ClientReadableStream, Metadata, status } from '@grpc/grpc-js';
import type { TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { FakeUpstream, statusReply } from '../helpers/fakeUpstream';
import { httpRequest } from '../helpers/httpClient';
import { PythonClient } from '../helpers/python';
import { collect, request, startTestServer, TEST_MODELS, type TestServer, waitFor } from '../helpers/server';
import { detailsOf } from '../helpers/statusDetails';

// Every failed call carries a google.rpc.Status in grpc-status-details-bin:
// an ErrorInfo with a stable reason, a BadRequest naming the field for
// INVALID_ARGUMENT, and a RetryInfo for RESOURCE_EXHAUSTED and UNAVAILABLE.
// The message text is the grpc-message unchanged. The HTTP edge says the same
// with the OpenAI error's `code` and a Retry-After header.

const TOKEN = 'details-token-0123456789';
const RETRY = { maxAttempts: 1, baseMs: 5, capMs: 20, maxRetryAfterMs: 5000 };

let fake: FakeUpstream;
let t: TestServer;
let python: PythonClient;

function authorized(): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${TOKEN}`);
  return metadata;
}

beforeAll(async () => {
  python = await PythonClient.prepare();
  const rateLimited = { error: { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' } };
  fake = await FakeUpstream.start(statusReply(429, rateLimited, { 'retry-after': '3600' }));
  t = await startTestServer({
    auth: { tokens: [TOKEN] },
    limits: { maxConcurrentStreams: 1 },
    models: [...TEST_MODELS, { name: 'gpt', backend: 'openai', baseUrl: `${fake.url}/v1`, retry: RETRY }],
  });
});

afterAll(async () => {
  await t?.close();
  await fake?.close();
  python?.dispose();
});

const generate = (fields: Parameters<typeof request>[0], metadata = authorized()) => collect(t.client.generate(request(fields), metadata));

/** Takes the server's only stream slot until the returned call is cancelled. */
async function holdTheOnlySlot(): Promise<ClientReadableStream<TokenChunk>> {
  const held = t.client.generate(request({ model: 'slow', prompt: 'hold the only slot', maxTokens: 1000 }), authorized());
  held.on('error', () => undefined);
  held.on('data', () => undefined);
  await waitFor(() => t.server.store.activeCount === 1, 5000, 'the held stream');
  return held;
}

async function release(held: ClientReadableStream<TokenChunk>): Promise<void> {
  held.cancel();
  await waitFor(() => t.server.store.activeCount === 0, 5000, 'the held stream to end');
}

type PythonAnswer = {
  generate: { error?: { code: string; details: string; status_details: { code: number; message: string; details: unknown[] } } };
};
const pythonGenerate = (plan: Record<string, unknown>) => python.run<PythonAnswer>(t.address, { generate: { token: TOKEN, ...plan } });

describe('grpc-status-details-bin, read by the TS client', () => {
  it('INVALID_ARGUMENT carries an ErrorInfo and a BadRequest naming the field, and no RetryInfo', async () => {
    const { error } = await generate({ prompt: 'x', maxTokens: 0 });
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toBe('max_tokens: must be between 1 and 4096, got 0');
    expect(detailsOf(error)).toEqual({
      code: status.INVALID_ARGUMENT,
      message: 'max_tokens: must be between 1 and 4096, got 0',
      types: ['type.googleapis.com/google.rpc.ErrorInfo', 'type.googleapis.com/google.rpc.BadRequest'],
      errorInfo: { reason: 'INVALID_ARGUMENT', domain: 'tokenrelay', metadata: {} },
      badRequest: { fieldViolations: [{ field: 'max_tokens', description: 'must be between 1 and 4096, got 0', reason: '' }] },
    });
  });

  it('a stream that does not exist is STREAM_NOT_FOUND, with no BadRequest or RetryInfo', async () => {
    const { error } = await collect(t.client.subscribe({ streamId: 'never-was', fromSeq: 0 }, authorized()));
    expect(error?.code).toBe(status.NOT_FOUND);
    const details = detailsOf(error);
    expect(details.errorInfo?.reason).toBe('STREAM_NOT_FOUND');
    expect(details.badRequest).toBeUndefined();
    expect(details.retryDelayMs).toBeUndefined();
  });

  it('too many live streams is RESOURCE_EXHAUSTED, TOO_MANY_STREAMS, retry in 1 s; HTTP says 429 with Retry-After: 1', async () => {
    const held = await holdTheOnlySlot();
    try {
      const { error } = await generate({ model: 'echo', prompt: 'no room' });
      expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(error?.details).toBe('too many live streams: the limit is 1');
      expect(detailsOf(error)).toMatchObject({ errorInfo: { reason: 'TOO_MANY_STREAMS' }, retryDelayMs: 1000 });

      const refused = await httpRequest(t.server.httpPort as number, '/v1/chat/completions', {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'no room' }] }),
      });
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.json().error).toMatchObject({ code: 'too_many_streams', message: 'too many live streams: the limit is 1' });
    } finally {
      await release(held);
    }
    const after = await generate({ model: 'echo', prompt: 'room again' });
    expect(after.tokens.join('')).toBe('room again');
  });

  it("an upstream's Retry-After reaches the caller as RetryInfo, with MODEL_FAILED", async () => {
    const { error } = await generate({ model: 'gpt', prompt: 'x' });
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(detailsOf(error)).toMatchObject({ errorInfo: { reason: 'MODEL_FAILED' }, retryDelayMs: 3_600_000 });
  });

  it('UNAUTHENTICATED from the auth interceptor carries its reason too', async () => {
    const { error } = await generate({ model: 'echo', prompt: 'x' }, new Metadata());
    expect(error?.code).toBe(status.UNAUTHENTICATED);
    expect(detailsOf(error)).toEqual({
      code: status.UNAUTHENTICATED,
      message: 'missing or invalid bearer token',
      types: ['type.googleapis.com/google.rpc.ErrorInfo'],
      errorInfo: { reason: 'UNAUTHENTICATED', domain: 'tokenrelay', metadata: {} },
    });
  });
});

describe('grpc-status-details-bin, read by a Python grpcio client with the googleapis classes', () => {
  it('BadRequest for a bad field', async () => {
    const answer = await pythonGenerate({ model: 'echo', prompt: 'x', max_tokens: 0 });
    expect(answer.generate.error?.code).toBe('INVALID_ARGUMENT');
    expect(answer.generate.error?.status_details).toEqual({
      code: status.INVALID_ARGUMENT,
      message: 'max_tokens: must be between 1 and 4096, got 0',
      details: [
        { type: 'google.rpc.ErrorInfo', value: { reason: 'INVALID_ARGUMENT', domain: 'tokenrelay' } },
        {
          type: 'google.rpc.BadRequest',
          value: { field_violations: [{ field: 'max_tokens', description: 'must be between 1 and 4096, got 0' }] },
        },
      ],
    });
  });

  it('MODEL_NOT_FOUND for an unknown model', async () => {
    const answer = await pythonGenerate({ model: 'gpt-9', prompt: 'x' });
    expect(answer.generate.error?.code).toBe('NOT_FOUND');
    expect(answer.generate.error?.status_details.details).toEqual([
      { type: 'google.rpc.ErrorInfo', value: { reason: 'MODEL_NOT_FOUND', domain: 'tokenrelay' } },
    ]);
  });

  it('RetryInfo with RESOURCE_EXHAUSTED', async () => {
    const held = await holdTheOnlySlot();
    try {
      const answer = await pythonGenerate({ model: 'echo', prompt: 'no room' });
      expect(answer.generate.error?.code).toBe('RESOURCE_EXHAUSTED');
      expect(answer.generate.error?.status_details.details).toEqual([
        { type: 'google.rpc.ErrorInfo', value: { reason: 'TOO_MANY_STREAMS', domain: 'tokenrelay' } },
        { type: 'google.rpc.RetryInfo', value: { retry_delay: '1s' } },
      ]);
    } finally {
      await release(held);
    }
  });
});
