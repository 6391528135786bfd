import { Metadata, status } from '@grpc/grpc-js';
import type { DataServiceClient, ListModelsRequest, ListModelsResponse } from '../../src/gen/tokenrelay/v1/data_service';
import { ConfigError, parseConfig } from '../../src/core/config';
import { FakeUpstream, openAiEvents, openAiReply, resetAfterReply, SSE_HEADERS, statusReply } from '../helpers/fakeUpstream';
import { collect, memoryLogger, request, startTestServer, TEST_MODELS, type TestServer, unary } from '../helpers/server';

const KEY_ENV = 'TOKENRELAY_TEST_SECRET_KEY';
const KEY = 'sk-proj-SECRET-9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a';

let fake: FakeUpstream;
let t: TestServer;
let client: DataServiceClient;
const { logger, lines: logLines } = memoryLogger('trace');

beforeAll(async () => {
  process.env[KEY_ENV] = KEY;
  fake = await FakeUpstream.start(openAiReply([]));
  t = await startTestServer(
    {
      models: [
        ...TEST_MODELS,
        {
          name: 'secret',
          backend: 'openai',
          baseUrl: `${fake.url}/v1`,
          apiKeyEnv: KEY_ENV,
          retry: { maxAttempts: 2, baseMs: 5, capMs: 10 },
        },
        { name: 'secret-ollama', backend: 'ollama', baseUrl: fake.url, apiKeyEnv: KEY_ENV, retry: { maxAttempts: 1 } },
      ],
    },
    { logger },
  );
  client = t.client;
});
afterAll(async () => {
  await t.close();
  await fake.close();
  delete process.env[KEY_ENV];
});

const generate = (model = 'secret') => collect(client.generate(request({ model, prompt: 'x' }), new Metadata()));

describe('the API key', () => {
  it('is sent upstream as a bearer token', async () => {
    fake.script(openAiReply(['hi']));
    expect((await generate()).tokens).toEqual(['hi']);
    expect(fake.requests.at(-1)!.headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it('never appears in an error message, even when the upstream quotes it back', async () => {
    const errors: string[] = [];
    fake.script(
      statusReply(401, {
        error: { message: `Incorrect API key provided: ${KEY}.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' },
      }),
    );
    const unauthenticated = await generate();
    expect(unauthenticated.error?.code).toBe(status.UNAUTHENTICATED);
    expect(unauthenticated.error?.details).toBe(
      'model "secret": upstream answered 401 Unauthorized: "Incorrect API key provided: [redacted]."',
    );
    errors.push(unauthenticated.error!.message);

    fake.script(statusReply(503, `upstream connect error for Bearer ${KEY}`));
    errors.push((await generate()).error!.message);

    fake.script(resetAfterReply(`${openAiEvents(['a']).slice(0, 2).join('')}data: {"error":{"message":"bad key ${KEY}"}}\n\n`));
    errors.push((await generate()).error!.message);

    fake.script(async (res) => {
      res.writeHead(200, SSE_HEADERS);
      res.end(`data: ${KEY}\n\n`);
    });
    errors.push((await generate()).error!.message);

    fake.script(statusReply(404, { error: `model not found (key ${KEY})` }));
    errors.push((await generate('secret-ollama')).error!.message);

    // A long message quoted only in part, cut inside the key.
    fake.script(statusReply(400, { error: { message: `${'x'.repeat(290)} ${KEY}` } }));
    const cut = (await generate()).error!.message;
    expect(cut).toContain('[redacted]…');
    expect(cut).not.toContain(KEY.slice(0, 6));
    errors.push(cut);

    expect(errors).toHaveLength(6);
    for (const message of errors) {
      expect(message).toContain('[redacted]');
      expect(message).not.toContain(KEY);
    }
  });

  it('never appears in a log line, nor in ListModels', async () => {
    const models = await unary<ListModelsRequest, ListModelsResponse>(client.listModels.bind(client), {});
    expect(models.models.find((model) => model.name === 'secret')).toMatchObject({ backend: 'openai', baseUrl: `${fake.url}/v1` });
    expect(JSON.stringify(models)).not.toContain(KEY);
    expect(logLines.length).toBeGreaterThan(5); // the startup line, and one line per call above
    expect(logLines.some((line) => line.includes('[redacted]'))).toBe(true);
    for (const line of logLines) expect(line).not.toContain(KEY);
  });

  it('an unset key variable fails at startup naming the model entry and the field, not the key', () => {
    delete process.env.TOKENRELAY_TEST_UNSET_KEY;
    expect(() =>
      parseConfig({ models: [{ name: 'm', backend: 'openai', baseUrl: 'http://127.0.0.1:1/v1', apiKeyEnv: 'TOKENRELAY_TEST_UNSET_KEY' }] }),
    ).toThrow(new ConfigError('models[0] (m).apiKeyEnv: environment variable TOKENRELAY_TEST_UNSET_KEY is unset or empty'));
  });
});
