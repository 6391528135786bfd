import { status } from '@grpc/grpc-js';
import { FinishReason, type ListModelsRequest, type ListModelsResponse } from '../../src/gen/tokenrelay/v1/data_service';
import { FakeUpstream, NDJSON_HEADERS, ollamaLines, ollamaReply, resetAfterReply, statusReply } from '../helpers/fakeUpstream';
import { collect, expectContiguous, request, startTestServer, TEST_MODELS, type TestServer, unary } from '../helpers/server';

let fake: FakeUpstream;
let t: TestServer;

beforeAll(async () => {
  fake = await FakeUpstream.start(ollamaReply([]));
  t = await startTestServer({
    models: [...TEST_MODELS, { name: 'llama3.2', backend: 'ollama', baseUrl: fake.url, retry: { maxAttempts: 3, baseMs: 5, capMs: 20 } }],
  });
});
afterAll(async () => {
  await t.close();
  await fake.close();
});

const TOKENS = ['The', ' sky', ' is', ' blue', ' because', ' of', ' Rayleigh', ' scattering', ' ☀', '.'];

describe('Ollama upstream', () => {
  it('relays an /api/chat NDJSON stream cut into many reads, with done_reason and the eval counts as usage', async () => {
    fake.script(ollamaReply(TOKENS, { doneReason: 'stop', promptEvalCount: 26, pieceBytes: 29 }));
    const before = fake.attempts;
    const result = await collect(t.client.generate(request({ model: 'llama3.2', prompt: 'Why is the sky blue?' })));
    expect(result.error).toBeUndefined();
    expect(result.tokens).toEqual(TOKENS);
    expectContiguous(result.chunks);
    expect(result.chunks.at(-1)!.finishReason).toBe(FinishReason.FINISH_REASON_STOP);
    expect(result.chunks.at(-1)!.usage).toEqual({ promptTokens: 26, completionTokens: 10, cachedTokens: 0 });
    expect(fake.attempts - before).toBe(1);
  });

  it('maps done_reason "length" to LENGTH', async () => {
    fake.script(ollamaReply(TOKENS.slice(0, 3), { doneReason: 'length' }));
    const result = await collect(t.client.generate(request({ model: 'llama3.2', prompt: 'x', maxTokens: 3 })));
    expect(result.tokens).toEqual(TOKENS.slice(0, 3));
    expect(result.chunks.at(-1)!.finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
  });

  it('sends the request Ollama defines: the upstream model, messages then the prompt, stream, and sampling as options', async () => {
    fake.script(ollamaReply(['ok']));
    await collect(
      t.client.generate(
        request({
          model: 'llama3.2',
          messages: [{ role: 'system', content: 'Be brief.' }],
          prompt: 'Why is the sky blue?',
          maxTokens: 32,
          temperature: 0,
          topP: 0.5,
          stop: ['\n'],
          seed: 7,
        }),
      ),
    );
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/api/chat');
    expect(sent.body).toEqual({
      model: 'llama3.2',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Why is the sky blue?' },
      ],
      stream: true,
      options: { temperature: 0, top_p: 0.5, num_predict: 32, stop: ['\n'], seed: 7 },
    });
    expect(sent.headers.accept).toBe('application/x-ndjson');
    expect(sent.headers.authorization).toBeUndefined();
  });

  it('a model Ollama does not have is NOT_FOUND with Ollama’s message, not retried', async () => {
    fake.script(statusReply(404, { error: 'model "llama3.2" not found, try pulling it first' }));
    const before = fake.attempts;
    const result = await collect(t.client.generate(request({ model: 'llama3.2', prompt: 'x' })));
    expect(result.error?.code).toBe(status.NOT_FOUND);
    expect(result.error?.details).toBe(
      'model "llama3.2": upstream answered 404 Not Found: "model \\"llama3.2\\" not found, try pulling it first"',
    );
    expect(fake.attempts - before).toBe(1);
  });

  it('an error line after tokens ends the stream with UNAVAILABLE and Ollama’s message; the tokens stay', async () => {
    const text =
      ollamaLines(TOKENS.slice(0, 4)).slice(0, 4).join('') +
      `${JSON.stringify({ error: 'an error was encountered while running the model: CUDA error: out of memory' })}\n`;
    fake.script(async (res) => {
      res.writeHead(200, NDJSON_HEADERS);
      res.end(text);
    });
    const before = fake.attempts;
    const result = await collect(t.client.generate(request({ model: 'llama3.2', prompt: 'x', streamId: 'ollama-error-line' })));
    expect(result.tokens).toEqual(TOKENS.slice(0, 4));
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toContain(
      'upstream reported an error: "an error was encountered while running the model: CUDA error: out of memory"',
    );
    expect(result.error?.details).toContain('after 4 tokens');
    expect(fake.attempts - before).toBe(1);
  });

  it('a garbage line after tokens ends the stream with UNAVAILABLE quoting it; the tokens stay', async () => {
    fake.script(resetAfterReply(`${ollamaLines(TOKENS.slice(0, 2)).slice(0, 2).join('')}Internal Server Error\n`, NDJSON_HEADERS));
    const before = fake.attempts;
    const result = await collect(t.client.generate(request({ model: 'llama3.2', prompt: 'x' })));
    expect(result.tokens).toEqual(TOKENS.slice(0, 2));
    expect(result.error?.code).toBe(status.UNAVAILABLE);
    expect(result.error?.details).toContain('upstream sent a line that is not JSON: "Internal Server Error"');
    expect(fake.attempts - before).toBe(1);
  });

  it('ListModels shows the Ollama model with its backend and base URL', async () => {
    const response = await unary<ListModelsRequest, ListModelsResponse>(t.client.listModels.bind(t.client), {});
    expect(response.models.find((model) => model.name === 'llama3.2')).toMatchObject({ backend: 'ollama', baseUrl: fake.url });
  });
});
