import { status } from '@grpc/grpc-js';
import {
  FakeUpstream,
  htmlReply,
  openAiEvents,
  openAiReply,
  resetAfterReply,
  SSE_HEADERS,
  stallReply,
  waitForClose,
} from '../helpers/fakeUpstream';
import { collect, request, startTestServer, TEST_MODELS, type TestServer } from '../helpers/server';

let fake: FakeUpstream;
let t: TestServer;

const TOKENS = Array.from({ length: 20 }, (_, index) => ` w${index}`);
/** The first n token events of a stream of TOKENS (after the role chunk). */
const firstEvents = (n: number) =>
  openAiEvents(TOKENS)
    .slice(0, n + 1)
    .join('');

beforeAll(async () => {
  fake = await FakeUpstream.start(openAiReply([]));
  t = await startTestServer({
    models: [
      ...TEST_MODELS,
      {
        name: 'flaky',
        backend: 'openai',
        baseUrl: `${fake.url}/v1`,
        timeouts: { idleMs: 200, headersMs: 300 },
        retry: { maxAttempts: 2, baseMs: 5, capMs: 10 },
      },
    ],
  });
});
afterAll(async () => {
  await t.close();
  await fake.close();
});

const generate = (fields = {}) => collect(t.client.generate(request({ model: 'flaky', prompt: 'x', maxTokens: 100, ...fields })));

describe('a broken upstream', () => {
  it('a reset after 10 tokens ends the stream with UNAVAILABLE; the 10 tokens stay in the log; no retry', async () => {
    fake.script(resetAfterReply(firstEvents(10)));
    const before = fake.attempts;
    const result = await generate({ streamId: 'reset-after-10' });
    expect(result.tokens).toEqual(TOKENS.slice(0, 10));
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toMatch(
      /^model "flaky": upstream (reset|closed) the connection \(\w+\), after 10 tokens; not retried, since those tokens were already relayed$/,
    );
    expect(fake.attempts - before).toBe(1);
    // A consumer that comes back reads the same 10 tokens, then the same status.
    const again = await collect(t.client.subscribe({ streamId: 'reset-after-10', fromSeq: 0 }));
    expect(again.tokens).toEqual(TOKENS.slice(0, 10));
    expect(again.error?.code).toBe(status.UNAVAILABLE);
  });

  it('headers then a stall: the idle timeout aborts each attempt (the upstream sees it closed), then UNAVAILABLE', async () => {
    fake.script(stallReply());
    const before = fake.attempts;
    const result = await generate();
    expect(result.tokens).toEqual([]);
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toBe('model "flaky": upstream sent nothing for 200 ms (timeouts.idleMs) (gave up after 2 attempts)');
    expect(fake.attempts - before).toBe(2);
    await waitForClose(fake.requests.slice(-2));
    for (const sent of fake.requests.slice(-2)) {
      expect(sent.closedEarlyAtMs! - sent.receivedAtMs).toBeGreaterThanOrEqual(190);
      expect(sent.closedEarlyAtMs! - sent.receivedAtMs).toBeLessThan(400);
    }
  });

  it('no headers at all: the headers timeout aborts each attempt, then UNAVAILABLE', async () => {
    fake.script(async (_res, _request, closed) => {
      await closed;
    });
    const before = fake.attempts;
    const result = await generate();
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toBe(
      'model "flaky": upstream sent no response headers in time (timeouts.headersMs) (UND_ERR_HEADERS_TIMEOUT) (gave up after 2 attempts)',
    );
    expect(fake.attempts - before).toBe(2);
    await waitForClose(fake.requests.slice(-2));
  });

  it('a stall after 3 tokens ends the stream with UNAVAILABLE after the idle timeout; the 3 tokens stay', async () => {
    fake.script(stallReply(firstEvents(3)));
    const before = fake.attempts;
    const result = await generate();
    expect(result.tokens).toEqual(TOKENS.slice(0, 3));
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toContain('upstream sent nothing for 200 ms (timeouts.idleMs), after 3 tokens; not retried');
    expect(fake.attempts - before).toBe(1);
    await waitForClose(fake.requests.slice(-1));
  });

  it('keep-alive comments are not tokens, but they are not silence either', async () => {
    fake.script(async (res, _request, closed) => {
      res.writeHead(200, SSE_HEADERS);
      const events = openAiEvents(TOKENS.slice(0, 2));
      res.write(events[0] + events[1]);
      for (let beat = 0; beat < 5; beat++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        res.write(': keep-alive\n\n');
      }
      res.end(events.slice(2).join(''));
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10))]);
    });
    const result = await generate();
    expect(result.error).toBeUndefined();
    expect(result.tokens).toEqual(TOKENS.slice(0, 2));
  });

  it('a 200 HTML page (a login portal, a misrouted base URL) is UNAVAILABLE naming the page, not retried', async () => {
    fake.script(htmlReply(200, '<!DOCTYPE html><html><head><title>Sign in · Gateway</title></head><body>…</body></html>'));
    const before = fake.attempts;
    const result = await generate();
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toBe(
      'model "flaky": upstream answered 200 with an HTML page, not text/event-stream: an HTML page titled "Sign in · Gateway"',
    );
    expect(fake.attempts - before).toBe(1);
  });

  it('a JSON answer where a stream was expected (a server ignoring stream: true) is UNAVAILABLE, not retried', async () => {
    fake.script(async (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'chatcmpl-1',
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
        }),
      );
    });
    const before = fake.attempts;
    const result = await generate();
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toMatch(/^model "flaky": upstream answered 200 with JSON, not text\/event-stream: "\{/);
    expect(fake.attempts - before).toBe(1);
  });

  it('a garbage data line after tokens ends the stream with UNAVAILABLE quoting it; the tokens stay', async () => {
    fake.script(async (res) => {
      res.writeHead(200, SSE_HEADERS);
      res.end(`${firstEvents(5)}data: {"id":"chatcmpl-1","choices":[{"delta":{"content":"x"\n\n`);
    });
    const before = fake.attempts;
    const result = await generate();
    expect(result.tokens).toEqual(TOKENS.slice(0, 5));
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toContain('upstream sent an event whose data is not JSON: "{\\"id\\":\\"chatcmpl-1\\"');
    expect(result.error?.details).toContain('after 5 tokens');
    expect(fake.attempts - before).toBe(1);
  });

  it('a garbage data line before any token is UNAVAILABLE, not retried', async () => {
    fake.script(async (res) => {
      res.writeHead(200, SSE_HEADERS);
      res.end('data: Internal Server Error\n\n');
    });
    const before = fake.attempts;
    const result = await generate();
    expect(result.tokens).toEqual([]);
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toBe('model "flaky": upstream sent an event whose data is not JSON: "Internal Server Error"');
    expect(fake.attempts - before).toBe(1);
  });

  it('an error object in the stream after tokens ends it with UNAVAILABLE and the upstream’s message', async () => {
    fake.script(async (res) => {
      res.writeHead(200, SSE_HEADERS);
      const error = {
        error: {
          message: 'The server had an error while processing your request. Sorry about that!',
          type: 'server_error',
          param: null,
          code: null,
        },
      };
      res.end(`${firstEvents(4)}data: ${JSON.stringify(error)}\n\n`);
    });
    const result = await generate();
    expect(result.tokens).toEqual(TOKENS.slice(0, 4));
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toContain(
      'upstream reported an error: "The server had an error while processing your request. Sorry about that!", after 4 tokens',
    );
  });

  it('an `event: error` before any token is UNAVAILABLE with its message, not retried', async () => {
    fake.script(async (res) => {
      res.writeHead(200, SSE_HEADERS);
      res.end('event: error\ndata: {"error":{"code":500,"message":"llama_decode failed","type":"server_error"}}\n\n');
    });
    const before = fake.attempts;
    const result = await generate();
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toBe('model "flaky": upstream reported an error: "llama_decode failed"');
    expect(fake.attempts - before).toBe(1);
  });
});
