import { status } from '@grpc/grpc-js';
import { createServer } from 'node:net';
import { FinishReason } from '../../src/gen/tokenrelay/v1/data_service';
import { FakeUpstream, htmlReply, openAiEvents, openAiReply, resetReply, SSE_HEADERS, statusReply } from '../helpers/fakeUpstream';
import { collect, request, startTestServer, TEST_MODELS, type TestServer } from '../helpers/server';

let fake: FakeUpstream;
let t: TestServer;
let closedPort: number;

const RETRY = { maxAttempts: 3, baseMs: 5, capMs: 20, maxRetryAfterMs: 5000 };
const TOKENS = ['One', ' two', ' three', ' four', ' five'];

beforeAll(async () => {
  fake = await FakeUpstream.start(openAiReply([]));
  // A port nothing listens on: bound, then closed.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  t = await startTestServer({
    models: [
      ...TEST_MODELS,
      { name: 'gpt', backend: 'openai', baseUrl: `${fake.url}/v1`, retry: RETRY },
      { name: 'nowhere', backend: 'openai', baseUrl: `http://127.0.0.1:${closedPort}/v1`, retry: RETRY },
    ],
  });
});
afterAll(async () => {
  await t.close();
  await fake.close();
});

const ok = () => openAiReply(TOKENS, { usage: { prompt: 4, completion: 5 } });
const generate = (fields = {}) => collect(t.client.generate(request({ model: 'gpt', prompt: 'Count', ...fields })));

describe('retry before the first token', () => {
  it('429 with Retry-After: 1 is retried after a second, then streams', async () => {
    fake.script(
      statusReply(
        429,
        { error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' } },
        { 'retry-after': '1' },
      ),
      ok(),
    );
    const result = await generate();
    expect(result.error).toBeUndefined();
    expect(result.tokens).toEqual(TOKENS);
    expect(fake.requests.slice(-2).map((sent) => sent.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
    const [first, second] = fake.requests.slice(-2);
    expect(second.receivedAtMs - first.receivedAtMs).toBeGreaterThanOrEqual(950);
    expect(second.receivedAtMs - first.receivedAtMs).toBeLessThan(2000);
  });

  it('503 twice, then success: three attempts, every token once', async () => {
    fake.script(
      statusReply(503, { object: 'error', message: 'The model is overloaded', type: 'ServiceUnavailableError', param: null, code: 503 }),
      statusReply(503, 'Service Unavailable'),
      ok(),
    );
    const before = fake.attempts;
    const result = await generate();
    expect(result.error).toBeUndefined();
    expect(result.tokens).toEqual(TOKENS);
    expect(result.chunks.at(-1)!.finishReason).toBe(FinishReason.FINISH_REASON_STOP);
    expect(fake.attempts - before).toBe(3);
  });

  it('a connection reset before the headers is retried', async () => {
    fake.script(resetReply(), ok());
    const before = fake.attempts;
    const result = await generate();
    expect(result.error).toBeUndefined();
    expect(result.tokens).toEqual(TOKENS);
    expect(fake.attempts - before).toBe(2);
  });

  it("a proxy's 502 HTML page is retried", async () => {
    fake.script(htmlReply(502), ok());
    const before = fake.attempts;
    const result = await generate();
    expect(result.error).toBeUndefined();
    expect(result.tokens).toEqual(TOKENS);
    expect(fake.attempts - before).toBe(2);
  });

  it('an answer that ends cleanly before it finished, with no token sent, is retried', async () => {
    fake.script(async (res) => {
      res.writeHead(200, SSE_HEADERS);
      res.end(openAiEvents(TOKENS).slice(0, 1).join('')); // only the role chunk
    }, ok());
    const before = fake.attempts;
    const result = await generate();
    expect(result.tokens).toEqual(TOKENS);
    expect(fake.attempts - before).toBe(2);
  });

  it('gives up after maxAttempts with UNAVAILABLE and the upstream’s last message', async () => {
    fake.script(statusReply(500, { error: { message: 'CUDA out of memory', type: 'server_error', param: null, code: null } }));
    const before = fake.attempts;
    const result = await generate();
    expect(result.tokens).toEqual([]);
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toBe(
      'model "gpt": upstream answered 500 Internal Server Error: "CUDA out of memory" (gave up after 3 attempts)',
    );
    expect(fake.attempts - before).toBe(3);
  });

  it('does not retry a 429 whose Retry-After is longer than maxRetryAfterMs', async () => {
    fake.script(
      statusReply(
        429,
        { error: { message: 'You exceeded your current quota', type: 'insufficient_quota', param: null, code: 'insufficient_quota' } },
        { 'retry-after': '3600' },
      ),
    );
    const before = fake.attempts;
    const startedMs = performance.now();
    const result = await generate();
    expect(performance.now() - startedMs).toBeLessThan(1000);
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toContain('it asked to retry after 3600000 ms, longer than retry.maxRetryAfterMs (5000 ms)');
    expect(fake.attempts - before).toBe(1);
  });

  it('a refused connection is retried, then UNAVAILABLE', async () => {
    const result = await collect(t.client.generate(request({ model: 'nowhere', prompt: 'x' })));
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toBe('model "nowhere": upstream refused the connection (ECONNREFUSED) (gave up after 3 attempts)');
  });

  it.each([
    [
      400,
      'INVALID_ARGUMENT',
      { object: 'error', message: "This model's maximum context length is 4096 tokens.", type: 'BadRequestError', param: null, code: 400 },
      "This model's maximum context length is 4096 tokens.",
    ],
    [
      401,
      'UNAUTHENTICATED',
      { error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } },
      'Incorrect API key provided.',
    ],
    [
      403,
      'PERMISSION_DENIED',
      {
        error: {
          message: 'Project does not have access to model gpt-5',
          type: 'invalid_request_error',
          param: null,
          code: 'model_not_found',
        },
      },
      'Project does not have access to model gpt-5',
    ],
    [
      404,
      'NOT_FOUND',
      { error: { message: 'The model `gpt` does not exist.', type: 'invalid_request_error', param: null, code: 'model_not_found' } },
      'The model `gpt` does not exist.',
    ],
    [
      422,
      'INVALID_ARGUMENT',
      { detail: [{ type: 'missing', loc: ['body', 'messages'], msg: 'Field required', input: {} }] },
      '[{"type":"missing","loc":["body","messages"],"msg":"Field required","input":{}}]',
    ],
  ] as const)('%i is %s with the upstream’s message, not retried', async (httpStatus, codeName, body, message) => {
    const code = status[codeName];
    fake.script(statusReply(httpStatus, body));
    const before = fake.attempts;
    const result = await generate();
    expect(result.error?.code).toBe(code);
    expect(result.error?.details).toContain(`upstream answered ${httpStatus} `);
    expect(result.error?.details).toContain(JSON.stringify(message));
    expect(fake.attempts - before).toBe(1);
  });
});
