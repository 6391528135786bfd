import { Metadata, status } from '@grpc/grpc-js';
import type { TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { FakeUpstream, openAiReply, openAiSlowReply, statusReply, waitForClose, delay } from '../helpers/fakeUpstream';
import { collect, request, startTestServer, TEST_MODELS, type TestServer, unary } from '../helpers/server';

let fake: FakeUpstream;
let t: TestServer;

const TOKENS = Array.from({ length: 400 }, (_, index) => ` t${index}`);

beforeAll(async () => {
  fake = await FakeUpstream.start(openAiReply([]));
  t = await startTestServer({
    models: [
      ...TEST_MODELS,
      {
        name: 'remote',
        backend: 'openai',
        baseUrl: `${fake.url}/v1`,
        retry: { maxAttempts: 3, baseMs: 5, capMs: 10, maxRetryAfterMs: 5000 },
      },
    ],
  });
  // Warm the whole path up (module loading, JIT) so the timings below measure the relay, not a cold start.
  fake.script(openAiSlowReply(TOKENS, 20));
  for (let round = 0; round < 3; round++) {
    const { call, result, reached } = generateUntil(3);
    await reached;
    call.cancel();
    await result;
  }
});
afterAll(async () => {
  await t.close();
  await fake.close();
});

/** Starts a generation and resolves once `tokens` tokens arrived, with the call and when they did. */
function generateUntil(tokens: number, fields = {}, deadlineMs?: number) {
  const options = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
  const call = t.client.generate(request({ model: 'remote', prompt: 'x', maxTokens: 1000, ...fields }), new Metadata(), options);
  const result = collect(call);
  const reached = new Promise<{ streamId: string }>((resolve) => {
    let seen = 0;
    call.on('data', (chunk: TokenChunk) => {
      seen += chunk.tokens.length;
      if (seen >= tokens) resolve({ streamId: chunk.streamId });
    });
  });
  return { call, result, reached };
}

describe('cancellation and deadlines reach the upstream', () => {
  it('the gRPC caller cancelling closes the upstream request within 100 ms', async () => {
    fake.script(openAiSlowReply(TOKENS, 20));
    const { call, result, reached } = generateUntil(3);
    await reached;
    const cancelledAtMs = performance.now();
    call.cancel();
    expect((await result).error?.code).toBe(status.CANCELLED);
    const upstream = fake.requests.at(-1)!;
    await waitForClose([upstream]);
    expect(upstream.closedEarlyAtMs! - cancelledAtMs).toBeLessThan(100);
  });

  it('the Cancel RPC closes the upstream request within 100 ms', async () => {
    fake.script(openAiSlowReply(TOKENS, 20));
    const { result, reached } = generateUntil(3);
    const { streamId } = await reached;
    const cancelledAtMs = performance.now();
    await unary(t.client.cancel.bind(t.client), { streamId });
    expect((await result).error?.code).toBe(status.CANCELLED);
    const upstream = fake.requests.at(-1)!;
    await waitForClose([upstream]);
    expect(upstream.closedEarlyAtMs! - cancelledAtMs).toBeLessThan(100);
  });

  it('the call’s deadline ends a streaming answer with DEADLINE_EXCEEDED and closes the upstream request', async () => {
    fake.script(openAiSlowReply(TOKENS, 20));
    const startedMs = performance.now();
    const { result } = generateUntil(1, {}, 400);
    const outcome = await result;
    expect(outcome.error?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(outcome.tokens.length).toBeGreaterThan(5);
    expect(outcome.tokens).toEqual(TOKENS.slice(0, outcome.tokens.length));
    const upstream = fake.requests.at(-1)!;
    await waitForClose([upstream]);
    expect(upstream.closedEarlyAtMs! - startedMs).toBeLessThan(400 + 100);
  });

  it('the call’s deadline bounds the wait for response headers', async () => {
    fake.script(async (_res, _request, closed) => {
      await closed; // never answers
    });
    const startedMs = performance.now();
    const { result } = generateUntil(1, {}, 300);
    expect((await result).error?.code).toBe(status.DEADLINE_EXCEEDED);
    const upstream = fake.requests.at(-1)!;
    await waitForClose([upstream]);
    expect(upstream.closedEarlyAtMs! - startedMs).toBeGreaterThanOrEqual(280);
    expect(upstream.closedEarlyAtMs! - startedMs).toBeLessThan(300 + 100);
  });

  it('no retry starts past the call’s deadline: a Retry-After longer than what is left ends with DEADLINE_EXCEEDED at once', async () => {
    fake.script(
      statusReply(503, { error: { message: 'overloaded', type: 'server_error', param: null, code: null } }, { 'retry-after': '2' }),
    );
    const before = fake.attempts;
    const startedMs = performance.now();
    const { result } = generateUntil(1, {}, 1000);
    const outcome = await result;
    expect(outcome.error?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(outcome.error?.details).toBe(
      'model "remote": upstream answered 503 Service Unavailable: "overloaded"; a retry in 2000 ms would pass the call\'s deadline',
    );
    expect(performance.now() - startedMs).toBeLessThan(500);
    await delay(2200 - (performance.now() - startedMs));
    expect(fake.attempts - before).toBe(1);
  });

  it('cancelling during the wait before a retry stops the retry', async () => {
    fake.script(
      statusReply(
        429,
        { error: { message: 'slow down', type: 'requests', param: null, code: 'rate_limit_exceeded' } },
        { 'retry-after': '1' },
      ),
    );
    const before = fake.attempts;
    const call = t.client.generate(request({ model: 'remote', prompt: 'x' }));
    const result = collect(call);
    while (fake.attempts === before) await delay(5);
    await delay(100);
    call.cancel();
    expect((await result).error?.code).toBe(status.CANCELLED);
    await delay(1200);
    expect(fake.attempts - before).toBe(1);
  });
});
