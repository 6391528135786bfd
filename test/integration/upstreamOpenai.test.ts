import { FinishReason, type ListModelsRequest, type ListModelsResponse } from '../../src/gen/tokenrelay/v1/data_service';
import { countTokens } from '../../src/core/models/tokenizer';
import { FakeUpstream, openAiReply, openAiSlowReply, waitForClose } from '../helpers/fakeUpstream';
import { collect, expectContiguous, request, startTestServer, TEST_MODELS, type TestServer, unary } from '../helpers/server';

const KEY_ENV = 'TOKENRELAY_TEST_OPENAI_KEY';
const KEY = 'sk-test-3f9a0c1d2e4b5a6978f0e1d2c3b4a596';

let fake: FakeUpstream;
let t: TestServer;

beforeAll(async () => {
  process.env[KEY_ENV] = KEY;
  fake = await FakeUpstream.start(openAiReply([]));
  t = await startTestServer({
    models: [
      ...TEST_MODELS,
      {
        name: 'llama',
        backend: 'openai',
        baseUrl: `${fake.url}/v1/`,
        model: 'meta-llama/Llama-3.1-8B-Instruct',
        apiKeyEnv: KEY_ENV,
        headers: { 'X-Team': 'relay' },
      },
    ],
  });
});
afterAll(async () => {
  await t.close();
  await fake.close();
  delete process.env[KEY_ENV];
});

const TOKENS = ['Hello', ',', ' wörld', ' 👋', '!', ' How', ' are', ' you', ' today', '?'];

describe('OpenAI-compatible upstream', () => {
  it('relays a vLLM stream cut into many reads, each content delta one token, with the upstream’s finish reason and usage', async () => {
    fake.script(openAiReply(TOKENS, { style: 'vllm', finishReason: 'length', usage: { prompt: 12, completion: 10 }, pieceBytes: 23 }));
    const before = fake.attempts;
    const result = await collect(t.client.generate(request({ model: 'llama', prompt: 'Say hello', maxTokens: 10 })));
    expect(result.error).toBeUndefined();
    expect(result.tokens).toEqual(TOKENS);
    expectContiguous(result.chunks);
    const last = result.chunks.at(-1)!;
    expect(last.finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
    expect(last.usage).toEqual({ promptTokens: 12, completionTokens: 10, cachedTokens: 0 });
    expect(fake.attempts - before).toBe(1);
  });

  it('counts the prompt only when the upstream reports no usage: a reported count is taken as it is, ours never made', async () => {
    const model = t.server.models.resolve('llama');
    const counted: string[] = [];
    const count = model.countPromptTokens.bind(model);
    model.countPromptTokens = (generation) => {
      counted.push(generation.prompt);
      return count(generation);
    };
    try {
      fake.script(openAiReply(TOKENS.slice(0, 2), { usage: { prompt: 12, completion: 2 } }));
      const reported = await collect(t.client.generate(request({ model: 'llama', prompt: 'a long prompt, reported', maxTokens: 10 })));
      expect(reported.chunks.at(-1)!.usage).toEqual({ promptTokens: 12, completionTokens: 2, cachedTokens: 0 });
      expect(counted).toEqual([]);

      fake.script(openAiReply(TOKENS.slice(0, 2)));
      const unreported = await collect(t.client.generate(request({ model: 'llama', prompt: 'counted here', maxTokens: 10 })));
      expect(unreported.chunks.at(-1)!.usage).toEqual({ promptTokens: countTokens('counted here'), completionTokens: 2, cachedTokens: 0 });
      expect(counted).toEqual(['counted here']);
    } finally {
      model.countPromptTokens = count;
    }
  });

  it('reads CRLF lines and keep-alive comments (sse-starlette servers) the same way', async () => {
    fake.script(openAiReply(TOKENS, { newline: '\r\n', keepAlive: true, usage: { prompt: 5, completion: 10 }, pieceBytes: 11 }));
    const result = await collect(t.client.generate(request({ model: 'llama', prompt: 'x' })));
    expect(result.error).toBeUndefined();
    expect(result.tokens).toEqual(TOKENS);
    expect(result.chunks.at(-1)!.finishReason).toBe(FinishReason.FINISH_REASON_STOP);
    expect(result.chunks.at(-1)!.usage).toEqual({ promptTokens: 5, completionTokens: 10, cachedTokens: 0 });
  });

  it("reads OpenAI's own shape (usage: null on every chunk, an empty delta with the finish) and maps content_filter to stop", async () => {
    fake.script(openAiReply(TOKENS.slice(0, 4), { style: 'openai', finishReason: 'content_filter', usage: { prompt: 9, completion: 4 } }));
    const result = await collect(t.client.generate(request({ model: 'llama', prompt: 'x' })));
    expect(result.tokens).toEqual(TOKENS.slice(0, 4));
    expect(result.chunks.at(-1)!.finishReason).toBe(FinishReason.FINISH_REASON_STOP);
    expect(result.chunks.at(-1)!.usage).toEqual({ promptTokens: 9, completionTokens: 4, cachedTokens: 0 });
  });

  it("reads llama.cpp's shape (usage in the finishing chunk) and maps tool_calls to stop", async () => {
    fake.script(openAiReply(TOKENS.slice(0, 3), { style: 'llamacpp', finishReason: 'tool_calls', usage: { prompt: 7, completion: 3 } }));
    const result = await collect(t.client.generate(request({ model: 'llama', prompt: 'x' })));
    expect(result.tokens).toEqual(TOKENS.slice(0, 3));
    expect(result.chunks.at(-1)!.finishReason).toBe(FinishReason.FINISH_REASON_STOP);
    expect(result.chunks.at(-1)!.usage).toEqual({ promptTokens: 7, completionTokens: 3, cachedTokens: 0 });
  });

  it('without a usage chunk, usage falls back to the relay’s own counts', async () => {
    fake.script(openAiReply(TOKENS.slice(0, 2)));
    const result = await collect(t.client.generate(request({ model: 'llama', prompt: 'x' })));
    expect(result.tokens).toEqual(TOKENS.slice(0, 2));
    expect(result.chunks.at(-1)!.usage?.completionTokens).toBe(2);
  });

  it('cuts off an upstream that streams past max_tokens with LENGTH, closing its request', async () => {
    fake.script(openAiSlowReply(TOKENS, 10));
    const result = await collect(t.client.generate(request({ model: 'llama', prompt: 'x', maxTokens: 4 })));
    expect(result.tokens).toEqual(TOKENS.slice(0, 4));
    expect(result.chunks.at(-1)!.finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
    await waitForClose([fake.requests.at(-1)!]);
  });

  it('sends the chat request the OpenAI API defines: messages then the prompt, sampling parameters, stream with usage, the key and headers', async () => {
    fake.script(openAiReply(['ok']));
    await collect(
      t.client.generate(
        request({
          model: 'llama',
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'Hi' },
            { role: 'assistant', content: 'Hello!' },
          ],
          prompt: 'What is 2+2?',
          maxTokens: 64,
          temperature: 0.7,
          topP: 0.9,
          stop: ['\n\n', 'END'],
          seed: 42,
        }),
      ),
    );
    const sent = fake.requests.at(-1)!;
    expect(sent.method).toBe('POST');
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.body).toEqual({
      model: 'meta-llama/Llama-3.1-8B-Instruct',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello!' },
        { role: 'user', content: 'What is 2+2?' },
      ],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 64,
      temperature: expect.closeTo(0.7, 5),
      top_p: expect.closeTo(0.9, 5),
      stop: ['\n\n', 'END'],
      seed: 42,
    });
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.headers['x-team']).toBe('relay');
    expect(sent.headers['content-type']).toBe('application/json');
    expect(sent.headers.accept).toBe('text/event-stream');
  });

  it('reuses keep-alive connections: eight generations one after another share at most two', async () => {
    // At most two: a finished answer's connection returns to the pool once its last bytes are read,
    // which may be just after the next generation starts.
    fake.script(openAiReply(['a', 'b'], { usage: { prompt: 1, completion: 2 } }));
    const connectionsBefore = fake.connectionsOpened;
    for (let run = 0; run < 8; run++) {
      const result = await collect(t.client.generate(request({ model: 'llama', prompt: 'x' })));
      expect(result.tokens).toEqual(['a', 'b']);
    }
    expect(new Set(fake.requests.slice(-8).map((sent) => sent.connection)).size).toBeLessThanOrEqual(2);
    expect(fake.connectionsOpened - connectionsBefore).toBeLessThanOrEqual(2);
  });

  it('ListModels shows the upstream model with its backend and base URL, and never the key', async () => {
    const response = await unary<ListModelsRequest, ListModelsResponse>(t.client.listModels.bind(t.client), {});
    const llama = response.models.find((model) => model.name === 'llama');
    expect(llama).toMatchObject({ backend: 'openai', baseUrl: `${fake.url}/v1` });
    expect(llama!.description).toContain('meta-llama/Llama-3.1-8B-Instruct');
    expect(JSON.stringify(response)).not.toContain(KEY);
  });
});
