import { ScriptedModel, paced, sleep } from '../helpers/models';
import { expectOpenAiError, httpRequest } from '../helpers/httpClient';
import { type SseEvent, SseConnection } from '../helpers/httpSse';
import { ProbeModel } from '../helpers/probeModel';
import { startTestServer, type TestServer, waitFor } from '../helpers/server';

const HEARTBEAT_MS = 100;
const WINDOW = 64;
const MAX_BODY_BYTES = 64 * 1024;
const BIG_TOKENS = 20_000;
const BIG_TOKEN_BYTES = 1024;

let t: TestServer;
let port: number;
let probe: ProbeModel;

beforeAll(async () => {
  t = await startTestServer({
    streams: { heartbeatMs: HEARTBEAT_MS, windowTokens: WINDOW },
    limits: { maxMessageBytes: MAX_BODY_BYTES, maxTokens: BIG_TOKENS },
  });
  port = t.server.httpPort!;
  probe = new ProbeModel('probe', 10);
  t.server.models.register(probe);
  t.server.models.register(new ScriptedModel('quiet', paced(['a', 'b', 'c'], 3 * HEARTBEAT_MS)));
  // Tokens of 1 KiB, numbered, as fast as the consumer takes them.
  t.server.models.register(
    new ScriptedModel('big', async (sink, _signal, request) => {
      for (let index = 0; index < request.maxTokens; index++) await sink.append(bigToken(index));
      return { finishReason: 'length' };
    }),
  );
});
afterAll(() => t.close());

function bigToken(index: number): string {
  return `${index}:`.padEnd(BIG_TOKEN_BYTES, '.');
}

const words = (count: number) => Array.from({ length: count }, (_, index) => `word-${index} `);

function chatBody(fields: Record<string, unknown>) {
  return { messages: [{ role: 'user', content: 'go' }], stream: true, ...fields };
}

interface TokenEvent {
  seq: number;
  tokens: string[];
}

/** Reads token events until at least `count` tokens came; asserts each id is the seq of its last token. */
async function readTokens(connection: SseConnection, count: number): Promise<TokenEvent[]> {
  const events: TokenEvent[] = [];
  let total = 0;
  while (total < count) {
    const event = await connection.next();
    if (!event) throw new Error(`the stream ended after ${total} tokens`);
    expect(event.event).toBe('message');
    const data = JSON.parse(event.data) as TokenEvent;
    expect(event.id).toBe(String(data.seq + data.tokens.length - 1));
    events.push(data);
    total += data.tokens.length;
  }
  return events;
}

/** Asserts the events continue each other from seq `from`, and returns their tokens. */
function contiguousTokens(events: TokenEvent[], from: number): string[] {
  let next = from;
  for (const event of events) {
    expect(event.seq).toBe(next);
    next += event.tokens.length;
  }
  return events.flatMap((event) => event.tokens);
}

function tokenEvents(events: SseEvent[]): TokenEvent[] {
  return events.filter((event) => event.event === 'message').map((event) => JSON.parse(event.data) as TokenEvent);
}

describe('GET /v1/streams/{id}/events', () => {
  it('a dropped connection resumed with Last-Event-ID gets the rest exactly once, in order, then event: end', async () => {
    const runsBefore = probe.runs.length;
    const starter = await SseConnection.open(port, '/v1/chat/completions', {
      body: chatBody({ model: 'probe', max_tokens: 60, resumable: true, stream_id: 'events-resume' }),
    });
    expect(starter.status).toBe(200);
    expect(starter.headers['x-tokenrelay-stream-id']).toBe('events-resume');
    starter.destroy(); // resumable: the stream keeps producing for its grace window

    const first = await SseConnection.open(port, '/v1/streams/events-resume/events?from_seq=0');
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const before = await readTokens(first, 10);
    first.destroy();
    const lastSeen = before.at(-1)!.seq + before.at(-1)!.tokens.length - 1;
    await sleep(50); // the producer goes on while nobody is connected

    const second = await SseConnection.open(port, '/v1/streams/events-resume/events', { headers: { 'Last-Event-ID': String(lastSeen) } });
    const rest = await second.rest();
    const end = rest.at(-1)!;
    expect(end.event).toBe('end');
    expect(end.id).toBeUndefined();
    expect(JSON.parse(end.data)).toEqual({ finish_reason: 'length', usage: { prompt_tokens: 1, completion_tokens: 60, total_tokens: 61 } });
    const after = tokenEvents(rest);
    expect(after.length).toBe(rest.length - 1);

    const seen = [...contiguousTokens(before, 0), ...contiguousTokens(after, lastSeen + 1)];
    expect(seen).toEqual(words(60));
    // The whole stream, read again from the start, is the same list: nothing was generated twice.
    const replay = await SseConnection.open(port, '/v1/streams/events-resume/events');
    expect(contiguousTokens(tokenEvents(await replay.rest()), 0)).toEqual(seen);
    expect(probe.runs.length).toBe(runsBefore + 1);
    expect(probe.runs.at(-1)!.tokens).toBe(60);
    expect(probe.runs.at(-1)!.abortedMs).toBeUndefined();
  });

  it('?from_seq= starts anywhere; silences are filled with `: heartbeat` comments, in the OpenAI stream too', async () => {
    const chat = await SseConnection.open(port, '/v1/chat/completions', { body: chatBody({ model: 'quiet', stream_id: 'quiet-1' }) });
    const firstChunk = await chat.next();
    expect(firstChunk?.id).toBe('0');
    const follower = await SseConnection.open(port, '/v1/streams/quiet-1/events?from_seq=1');
    const events = await follower.rest();
    expect(contiguousTokens(tokenEvents(events), 1)).toEqual(['b', 'c']);
    expect(events.at(-1)?.event).toBe('end');
    expect(follower.comments).toBeGreaterThanOrEqual(2);
    const chatRest = await chat.rest();
    expect(chatRest.at(-1)?.data).toBe('[DONE]');
    expect(chat.comments).toBeGreaterThanOrEqual(2);
  });

  it('a Last-Event-ID at the last token gets just event: end; one past it is 416; a non-number is 400; an unknown stream 404', async () => {
    const done = await httpRequest(port, '/v1/chat/completions', {
      body: chatBody({ model: 'echo', stream: false, stream_id: 'finished-1' }),
    });
    expect(done.status).toBe(200);
    expect(done.json().usage.completion_tokens).toBe(1); // "go" is one token

    const atEnd = await SseConnection.open(port, '/v1/streams/finished-1/events', { headers: { 'Last-Event-ID': '0' } });
    expect((await atEnd.rest()).map((event) => event.event)).toEqual(['end']);

    const pastEnd = await httpRequest(port, '/v1/streams/finished-1/events', { headers: { 'Last-Event-ID': '1' } });
    expectOpenAiError(pastEnd, 416, { param: 'Last-Event-ID', code: 'out_of_range' });
    expect(pastEnd.json().error.message).toContain('past the end of finished stream finished-1, which has 1 tokens');
    expectOpenAiError(await httpRequest(port, '/v1/streams/finished-1/events?from_seq=5'), 416, {
      param: 'from_seq',
      code: 'out_of_range',
    });

    const notNumber = await httpRequest(port, '/v1/streams/finished-1/events', { headers: { 'Last-Event-ID': 'seven' } });
    expectOpenAiError(notNumber, 400, { param: 'Last-Event-ID', code: 'invalid_argument' });
    expectOpenAiError(await httpRequest(port, '/v1/streams/finished-1/events?from_seq=-1'), 400, { param: 'from_seq' });
    expectOpenAiError(await httpRequest(port, '/v1/streams/no-such-stream/events'), 404, { param: 'stream_id', code: 'stream_not_found' });
  });
});

describe('bad input gets a precise status and an OpenAI-shaped error body, never a hung response', () => {
  it('malformed JSON is 400', async () => {
    const reply = await httpRequest(port, '/v1/chat/completions', {
      body: '{"model": "echo", "messages": [',
      headers: { 'content-type': 'application/json' },
    });
    expectOpenAiError(reply, 400, { param: null, code: 'invalid_json' });
    expect(reply.json().error.type).toBe('invalid_request_error');
  });

  it('a body over limits.maxMessageBytes is 413, whether its Content-Length says so or it is chunked', async () => {
    const body = chatBody({ model: 'echo', messages: [{ role: 'user', content: 'x'.repeat(MAX_BODY_BYTES) }] });
    const declared = await httpRequest(port, '/v1/chat/completions', { body });
    expectOpenAiError(declared, 413, { code: 'request_too_large' });
    expect(declared.json().error.message).toContain(`over the limit of ${MAX_BODY_BYTES} bytes`);
    expectOpenAiError(await httpRequest(port, '/v1/chat/completions', { body, chunked: true }), 413, { code: 'request_too_large' });
  });

  it('a body that is not labelled application/json is 415 before anything starts: a cross-site form cannot start a generation', async () => {
    const before = t.server.store.activeCount;
    const body = JSON.stringify(chatBody({ model: 'echo' }));
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const reply = await httpRequest(port, '/v1/chat/completions', { body, headers: { 'content-type': type } });
      expectOpenAiError(reply, 415, { code: 'unsupported_media_type' });
      expect(reply.json().error.message).toBe(`content-type: must be application/json, got ${JSON.stringify(type)}`);
    }
    const labelled = await httpRequest(port, '/v1/chat/completions', {
      body,
      headers: { 'content-type': 'Application/JSON; charset=utf-8' },
    });
    expect(labelled.status).toBe(200);
    expect(t.server.store.activeCount).toBe(before);
  });

  it('an unknown model is 404 with param model', async () => {
    const reply = await httpRequest(port, '/v1/chat/completions', { body: chatBody({ model: 'gpt-nope' }) });
    expectOpenAiError(reply, 404, { param: 'model', code: 'model_not_found' });
    expect(reply.json().error.message).toContain('no model named "gpt-nope"');
  });

  it('n > 1 is 400 with param n', async () => {
    expectOpenAiError(await httpRequest(port, '/v1/chat/completions', { body: chatBody({ model: 'echo', n: 3 }) }), 400, {
      param: 'n',
      code: 'invalid_argument',
    });
  });

  it('wrong types and out-of-limit values are 400 naming the field; unknown fields are ignored', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ temperature: 'hot' }, 'temperature'],
      [{ temperature: 3 }, 'temperature'],
      [{ max_tokens: 0 }, 'max_tokens'],
      [{ messages: [] }, 'messages'],
      [{ messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
      [{ stop: [1] }, 'stop'],
      [{ stream: 'yes' }, 'stream'],
      [{ resumable: 1 }, 'resumable'],
      [{ stream_id: 'has spaces' }, 'stream_id'],
    ];
    for (const [fields, param] of cases) {
      const reply = await httpRequest(port, '/v1/chat/completions', { body: chatBody({ model: 'echo', ...fields }) });
      expectOpenAiError(reply, 400, { param });
    }
    const ignored = await httpRequest(port, '/v1/chat/completions', {
      body: chatBody({ model: 'echo', stream: false, user: 'u-1', logit_bias: {}, frequency_penalty: 0, tools: null }),
    });
    expect(ignored.status).toBe(200);
  });

  it('unknown /v1 paths are 404 and wrong methods 405 with Allow, both OpenAI-shaped; the probes still answer', async () => {
    expectOpenAiError(await httpRequest(port, '/v1/completions', { body: {} }), 404);
    const wrongMethod = await httpRequest(port, '/v1/chat/completions');
    expectOpenAiError(wrongMethod, 405);
    expect(wrongMethod.headers.allow).toBe('POST');
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await httpRequest(port, path)).status).toBe(200);
  });
});

describe('disconnects and cancel behave as in gRPC', () => {
  it('closing the connection cancels a non-resumable stream: the producer is aborted within 100 ms', async () => {
    const connection = await SseConnection.open(port, '/v1/chat/completions', { body: chatBody({ model: 'probe', max_tokens: 1000 }) });
    const streamId = String(connection.headers['x-tokenrelay-stream-id']);
    await connection.next();
    await connection.next();
    const run = probe.runs.at(-1)!;
    const closedAtMs = performance.now();
    connection.destroy();
    await waitFor(() => run.abortedMs !== undefined, 1000, 'the producer to see its abort');
    expect(run.abortedMs! - closedAtMs).toBeLessThan(100);
    expect(t.server.registry.get(streamId)?.end?.reason).toBe('cancelled');
  });

  it('closing the connection of a stream: false request cancels it too', async () => {
    const runsBefore = probe.runs.length;
    const reply = httpRequest(port, '/v1/chat/completions', {
      body: chatBody({ model: 'probe', max_tokens: 1000, stream: false }),
      timeoutMs: 300,
    });
    await waitFor(() => probe.runs.length > runsBefore && probe.runs.at(-1)!.tokens >= 3, 2000, 'the probe to produce');
    const run = probe.runs.at(-1)!;
    // The helper's 300 ms timeout destroys the request: the client gave up.
    await expect(reply).rejects.toThrow('no complete answer within 300 ms');
    const closedAtMs = performance.now();
    await waitFor(() => run.abortedMs !== undefined, 1000, 'the producer to see its abort');
    expect(run.abortedMs! - closedAtMs).toBeLessThan(100);
  });

  it('a resumable stream outlives its connection; DELETE cancels it, ends its followers with event: error, and is 404 for unknown ids', async () => {
    const connection = await SseConnection.open(port, '/v1/chat/completions', {
      body: chatBody({ model: 'probe', max_tokens: 1000, resumable: true, stream_id: 'to-delete' }),
    });
    await connection.next();
    connection.destroy();
    const stream = t.server.registry.get('to-delete')!;
    const seqAfterClose = stream.nextSeq;
    await sleep(150);
    expect(stream.end).toBeUndefined();
    expect(stream.nextSeq).toBeGreaterThan(seqAfterClose);

    const follower = await SseConnection.open(port, '/v1/streams/to-delete/events', {
      headers: { 'Last-Event-ID': String(stream.nextSeq - 1) },
    });
    const run = probe.runs.at(-1)!;
    const deletedAtMs = performance.now();
    const deleted = await httpRequest(port, '/v1/streams/to-delete', { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(deleted.json()).toEqual({ id: 'to-delete', object: 'stream', cancelled: true });
    await waitFor(() => run.abortedMs !== undefined, 1000, 'the producer to see its abort');
    expect(run.abortedMs! - deletedAtMs).toBeLessThan(100);

    const last = (await follower.rest()).at(-1)!;
    expect(last.event).toBe('error');
    expect(JSON.parse(last.data)).toEqual({
      code: 'cancelled',
      reason: 'STREAM_CANCELLED',
      message: expect.stringContaining('cancelled by DELETE'),
    });

    expect((await httpRequest(port, '/v1/streams/to-delete', { method: 'DELETE' })).json()).toEqual({
      id: 'to-delete',
      object: 'stream',
      cancelled: false,
    });
    expectOpenAiError(await httpRequest(port, '/v1/streams/never-was', { method: 'DELETE' }), 404, { code: 'stream_not_found' });
  });

  it('a reader that stops reading pauses the producer (write() and drain); when it reads again every token arrives in order', async () => {
    const connection = await SseConnection.open(port, '/v1/chat/completions', {
      body: chatBody({ model: 'big', max_tokens: BIG_TOKENS, stream_id: 'big-1' }),
    });
    connection.pause();
    const stream = t.server.registry.get('big-1')!;
    await waitFor(() => stream.producerPaused, 3000, 'the producer to pause');
    const pausedAt = stream.nextSeq;
    await sleep(200);
    // Held back by the socket buffers plus the window, far from the 20 MiB the model would produce.
    expect(stream.nextSeq).toBe(pausedAt);
    expect(stream.producerPaused).toBe(true);
    expect(pausedAt).toBeLessThan(BIG_TOKENS / 2);

    connection.resume();
    const events = await connection.rest(10_000);
    expect(events.at(-1)?.data).toBe('[DONE]');
    let content = '';
    let lastId = -1;
    for (const event of events) {
      if (event.data === '[DONE]') continue;
      const delta = JSON.parse(event.data).choices[0]?.delta?.content;
      if (event.id !== undefined) {
        expect(Number(event.id)).toBeGreaterThan(lastId);
        lastId = Number(event.id);
      }
      if (delta) content += delta;
    }
    expect(lastId).toBe(BIG_TOKENS - 1);
    expect(content.length).toBe(BIG_TOKENS * BIG_TOKEN_BYTES);
    for (const index of [0, 1, pausedAt, BIG_TOKENS - 1]) {
      expect(content.slice(index * BIG_TOKEN_BYTES, (index + 1) * BIG_TOKEN_BYTES)).toBe(bigToken(index));
    }
  });
});

describe('shutting down', () => {
  it('new /v1 requests get 503 (as /readyz does); a stream in flight ends with an OpenAI-shaped error event', async () => {
    const draining = await startTestServer({ shutdownGraceMs: 200 });
    const drainingPort = draining.server.httpPort!;
    draining.server.models.register(new ProbeModel('probe', 10));
    const connection = await SseConnection.open(drainingPort, '/v1/chat/completions', {
      body: chatBody({ model: 'probe', max_tokens: 1000 }),
    });
    await connection.next();
    const stopped = draining.close();
    const refused = await httpRequest(drainingPort, '/v1/models');
    expectOpenAiError(refused, 503, { code: 'server_draining' });
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json().error.type).toBe('server_error');
    expect((await httpRequest(drainingPort, '/readyz')).status).toBe(503);
    const last = (await connection.rest()).at(-1)!;
    expect(JSON.parse(last.data)).toEqual({
      error: { message: 'the server is shutting down', type: 'server_error', param: null, code: 'server_draining' },
    });
    await stopped;
  });
});
