import OpenAI from 'openai';
import { EchoModel } from '../../src/core/models/echo';
import { countTokens, tokenize } from '../../src/core/models/tokenizer';
import { httpRequest } from '../helpers/httpClient';
import { ProbeModel } from '../helpers/probeModel';
import { startTestServer, type TestServer } from '../helpers/server';

const PROMPT = 'The quick brown fox jumps over the lazy dog — twice, über schnell. 🦊';
const TOKEN = 'an-http-token-of-32-characters!!';

let t: TestServer;
let openai: OpenAI;

/** The official SDK pointed at a tokenrelay: no retries, so a test sees each error as it happened. */
function sdkFor(server: TestServer, apiKey = 'anything'): OpenAI {
  return new OpenAI({ baseURL: `http://127.0.0.1:${server.server.httpPort}/v1`, apiKey, maxRetries: 0, timeout: 10_000 });
}

beforeAll(async () => {
  t = await startTestServer();
  t.server.models.register(new EchoModel({ name: 'echo-paced', interTokenMs: 5 }));
  t.server.models.register(new ProbeModel('probe', 10));
  openai = sdkFor(t);
});
afterAll(() => t.close());

describe('the official openai SDK against tokenrelay', () => {
  it('models.list() lists the configured models', async () => {
    const ids = [];
    for await (const model of openai.models.list()) {
      expect(model).toMatchObject({ object: 'model', owned_by: 'tokenrelay' });
      ids.push(model.id);
    }
    expect(ids).toEqual(expect.arrayContaining(['echo', 'sim', 'slow', 'echo-paced', 'probe']));
  });

  it('a non-streaming completion returns the model’s tokens and the usage, and names its stream in a header', async () => {
    const { data: completion, response } = await openai.chat.completions
      .create({ model: 'echo', messages: [{ role: 'user', content: PROMPT }] })
      .withResponse();
    const streamId = response.headers.get('x-tokenrelay-stream-id');
    expect(streamId).toBeTruthy();
    expect(completion.id).toBe(`chatcmpl-${streamId}`);
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('echo');
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0].message).toMatchObject({ role: 'assistant', content: PROMPT });
    expect(completion.choices[0].finish_reason).toBe('stop');
    const completionTokens = tokenize(PROMPT).length;
    expect(completion.usage).toEqual({
      prompt_tokens: countTokens(PROMPT),
      completion_tokens: completionTokens,
      total_tokens: countTokens(PROMPT) + completionTokens,
    });
  });

  it('a streaming completion with include_usage: role first, the tokens in order, a finish chunk, then a usage chunk', async () => {
    const { data: stream, response } = await openai.chat.completions
      .create({
        model: 'echo-paced',
        messages: [{ role: 'user', content: PROMPT }],
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const streamId = response.headers.get('x-tokenrelay-stream-id');
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && chunk.id === `chatcmpl-${streamId}`)).toBe(true);
    const withChoices = chunks.filter((chunk) => chunk.choices.length > 0);
    expect(withChoices[0].choices[0].delta.role).toBe('assistant');
    expect(withChoices.slice(1).every((chunk) => chunk.choices[0].delta.role === undefined)).toBe(true);
    const content = withChoices.map((chunk) => chunk.choices[0].delta.content ?? '').join('');
    expect(content).toBe(PROMPT);
    expect(withChoices.length).toBeGreaterThan(2); // paced: the tokens came in several chunks
    const finishes = withChoices.filter((chunk) => chunk.choices[0].finish_reason !== null);
    expect(finishes).toHaveLength(1);
    expect(finishes[0].choices[0].finish_reason).toBe('stop');
    expect(finishes[0]).toBe(withChoices.at(-1));

    const usageChunk = chunks.at(-1)!;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toEqual({
      prompt_tokens: countTokens(PROMPT),
      completion_tokens: tokenize(PROMPT).length,
      total_tokens: countTokens(PROMPT) + tokenize(PROMPT).length,
    });
    expect(withChoices.every((chunk) => chunk.usage === null)).toBe(true);
  });

  it('an empty model means the default model; max_completion_tokens, seed and stop are honoured', async () => {
    const completion = await openai.chat.completions.create({
      model: '',
      messages: [{ role: 'user', content: 'hello' }],
      max_completion_tokens: 5,
      seed: 7,
      stop: ['zzz'],
    });
    expect(completion.model).toBe('sim');
    expect(completion.usage?.completion_tokens).toBe(5);
    expect(completion.choices[0].finish_reason).toBe('length');
  });

  it('an unknown model is the SDK’s NotFoundError (404, code model_not_found, param model)', async () => {
    const failure = await openai.chat.completions
      .create({ model: 'gpt-nope', messages: [{ role: 'user', content: 'hi' }] })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OpenAI.NotFoundError);
    const error = failure as InstanceType<typeof OpenAI.NotFoundError>;
    expect(error.status).toBe(404);
    expect(error.code).toBe('model_not_found');
    expect(error.param).toBe('model');
    expect(error.message).toContain('no model named "gpt-nope"');
  });

  it('n: 2 is the SDK’s BadRequestError (400, param n), streaming or not', async () => {
    for (const stream of [false, true]) {
      const failure = await openai.chat.completions
        .create({ model: 'echo', n: 2, stream, messages: [{ role: 'user', content: 'hi' }] })
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(OpenAI.BadRequestError);
      expect((failure as InstanceType<typeof OpenAI.BadRequestError>).status).toBe(400);
      expect((failure as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('n');
    }
  });

  it('a stream cancelled mid-way (DELETE) surfaces as an APIError in the SDK’s loop', async () => {
    const { data: stream, response } = await openai.chat.completions
      .create({ model: 'probe', max_tokens: 1000, stream: true, messages: [{ role: 'user', content: 'go' }] })
      .withResponse();
    const streamId = response.headers.get('x-tokenrelay-stream-id');
    let chunks = 0;
    const failure = await (async () => {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content && ++chunks === 3) {
          const deleted = await httpRequest(t.server.httpPort!, `/v1/streams/${streamId}`, { method: 'DELETE' });
          expect(deleted.json()).toMatchObject({ cancelled: true });
        }
      }
    })().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect((failure as Error).message).toContain('cancelled by DELETE');
  });
});

describe('bearer tokens on the HTTP edge', () => {
  let secured: TestServer;
  beforeAll(async () => (secured = await startTestServer({ auth: { tokens: [TOKEN] } })));
  afterAll(() => secured.close());

  it('a wrong or missing key is the SDK’s AuthenticationError (401); the right one works', async () => {
    const failure = await sdkFor(secured, 'wrong-key')
      .models.list()
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((failure as InstanceType<typeof OpenAI.AuthenticationError>).status).toBe(401);
    expect((failure as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');

    const completion = await sdkFor(secured, TOKEN).chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.choices[0].message.content).toBe('hi');
  });

  it('/v1/* needs the token (401 with WWW-Authenticate); /, /healthz, /readyz and /metrics stay open', async () => {
    const port = secured.server.httpPort!;
    for (const [method, path] of [
      ['GET', '/v1/models'],
      ['POST', '/v1/chat/completions'],
      ['GET', '/v1/streams/any/events'],
      ['DELETE', '/v1/streams/any'],
    ]) {
      const reply = await httpRequest(port, path, { method, body: method === 'POST' ? {} : undefined });
      expect(reply.status).toBe(401);
      expect(reply.headers['www-authenticate']).toBe('Bearer');
      expect(reply.json().error).toMatchObject({ message: 'missing or invalid bearer token', code: 'invalid_api_key' });
    }
    for (const path of ['/', '/healthz', '/readyz', '/metrics']) expect((await httpRequest(port, path)).status).toBe(200);
    const authorized = await httpRequest(port, '/v1/models', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(authorized.status).toBe(200);
  });
});
