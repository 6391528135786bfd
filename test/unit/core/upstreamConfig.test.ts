import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ModelCatalog } from '../../../src/core/models/catalog';
import { ConfigError, parseConfig, type UpstreamModelConfig } from '../../../src/core/config';

const KEY_ENV = 'TOKENRELAY_TEST_CONFIG_KEY';
const KEY = 'sk-config-test-0123456789abcdef';

beforeAll(() => {
  process.env[KEY_ENV] = KEY;
});
afterAll(() => {
  delete process.env[KEY_ENV];
});

const upstream = (entry: Record<string, unknown>) => parseConfig({ models: [entry] }).models[0] as UpstreamModelConfig;

describe('upstream model config', () => {
  it('fills every default for an OpenAI-compatible model, the upstream model id defaulting to the name', () => {
    expect(upstream({ name: 'qwen', backend: 'openai', baseUrl: 'http://vllm:8000/v1/' })).toEqual({
      name: 'qwen',
      backend: 'openai',
      baseUrl: 'http://vllm:8000/v1',
      model: 'qwen',
      headers: {},
      timeouts: { connectMs: 10_000, headersMs: 300_000, idleMs: 60_000 },
      retry: { maxAttempts: 3, baseMs: 250, capMs: 5000, maxRetryAfterMs: 30_000 },
      maxConcurrent: 64,
      maxQueue: 256,
    });
  });

  it('takes every field of an Ollama model', () => {
    const config = upstream({
      name: 'llama',
      backend: 'ollama',
      baseUrl: 'https://ollama.internal:11434',
      model: 'llama3.2:3b',
      apiKeyEnv: KEY_ENV,
      headers: { 'X-Team': 'relay' },
      timeouts: { connectMs: 500, idleMs: 2000 },
      retry: { maxAttempts: 1 },
      maxConcurrent: 4,
      maxQueue: 0,
    });
    expect(config).toMatchObject({
      backend: 'ollama',
      baseUrl: 'https://ollama.internal:11434',
      model: 'llama3.2:3b',
      apiKeyEnv: KEY_ENV,
      headers: { 'X-Team': 'relay' },
      timeouts: { connectMs: 500, headersMs: 300_000, idleMs: 2000 },
      retry: { maxAttempts: 1, baseMs: 250, capMs: 5000, maxRetryAfterMs: 30_000 },
      maxConcurrent: 4,
      maxQueue: 0,
    });
  });

  it('keeps the key itself out of the parsed config: only the variable’s name is there', () => {
    const config = parseConfig({ models: [{ name: 'm', backend: 'openai', baseUrl: 'http://h/v1', apiKeyEnv: KEY_ENV }] });
    expect(JSON.stringify(config)).not.toContain(KEY);
  });

  it('builds the catalog: ListModels’ description carries the backend and base URL, never the key', () => {
    const catalog = new ModelCatalog(
      parseConfig({ models: [{ name: 'm', backend: 'openai', baseUrl: 'http://h:8000/v1', model: 'org/model', apiKeyEnv: KEY_ENV }] })
        .models,
      'm',
    );
    const { description } = catalog.resolve('m');
    expect(description).toEqual({
      name: 'm',
      backend: 'openai',
      baseUrl: 'http://h:8000/v1',
      description: 'OpenAI-compatible chat completions, model "org/model"',
    });
    expect(JSON.stringify(description)).not.toContain(KEY);
  });

  const where = 'models[0] (m)';
  it.each([
    [{ backend: 'vllm' }, `${where}.backend: unknown backend "vllm" (expected one of echo, sim, openai, ollama)`],
    [{ backend: 'openai', baseUrl: undefined }, `${where}.baseUrl: missing; the upstream's http(s) URL, e.g. "http://localhost:8000/v1"`],
    [{ backend: 'ollama', baseUrl: undefined }, `${where}.baseUrl: missing; the upstream's http(s) URL, e.g. "http://localhost:11434"`],
    [{ baseUrl: 8000 }, `${where}.baseUrl: must be a string URL, e.g. "http://localhost:8000/v1"`],
    [{ baseUrl: 'http://' }, `${where}.baseUrl: not a valid URL: "http://" (e.g. "http://localhost:8000/v1")`],
    [
      { baseUrl: 'localhost:8000/v1' },
      `${where}.baseUrl: must be an http or https URL, got "localhost:8000/v1" (e.g. "http://localhost:8000/v1")`,
    ],
    [{ baseUrl: 'ftp://h/v1' }, `${where}.baseUrl: must be an http or https URL, got "ftp://h/v1" (e.g. "http://localhost:8000/v1")`],
    [{ baseUrl: 'https://user:hunter2@h/v1' }, `${where}.baseUrl: must not carry credentials; name an environment variable in apiKeyEnv`],
    [{ baseUrl: 'http://h/v1?api-version=1' }, `${where}.baseUrl: must not have a query or fragment, got "http://h/v1?api-version=1"`],
    [{ apiKeyEnv: 'TOKENRELAY_TEST_NOT_SET' }, `${where}.apiKeyEnv: environment variable TOKENRELAY_TEST_NOT_SET is unset or empty`],
    [
      { apiKeyEnv: 'sk-live-abcdef123456' },
      `${where}.apiKeyEnv: must be the name of an environment variable (letters, digits and _), not the key itself`,
    ],
    [{ model: '' }, `${where}.model: must be the upstream's model id, a non-empty string`],
    [{ headers: ['x'] }, `${where}.headers: must be an object of header names to string values`],
    [{ headers: { 'Bad Header': 'x' } }, `${where}.headers: "Bad Header" is not a valid header name`],
    [{ headers: { 'X-Id': 'a\r\nInjected: yes' } }, `${where}.headers.X-Id: must be a string without line breaks`],
    [
      { apiKeyEnv: KEY_ENV, headers: { Authorization: 'Bearer x' } },
      `${where}.headers.Authorization: apiKeyEnv already sets Authorization; set one or the other`,
    ],
    [{ timeouts: { idleMs: 0 } }, `${where}.timeouts.idleMs: must be a whole number from 1 to 2147483647, got 0`],
    [{ timeouts: { totalMs: 5 } }, `${where}.timeouts.totalMs: unknown field (expected one of connectMs, headersMs, idleMs)`],
    [{ retry: { maxAttempts: 0 } }, `${where}.retry.maxAttempts: must be a whole number from 1 to 100, got 0`],
    [{ retry: { maxAttempts: 2.5 } }, `${where}.retry.maxAttempts: must be a whole number from 1 to 100, got 2.5`],
    [{ maxConcurrent: 0 }, `${where}.maxConcurrent: must be a whole number from 1 to 100000, got 0`],
    [{ maxQueue: -1 }, `${where}.maxQueue: must be a whole number from 0 to 1000000, got -1`],
    [
      { ttftMs: 5 },
      `${where}.ttftMs: unknown field (expected one of name, backend, baseUrl, model, apiKeyEnv, headers, timeouts, retry, maxConcurrent, maxQueue)`,
    ],
  ])('rejects %j at startup, naming the entry and the field', (fields, message) => {
    const entry = { name: 'm', backend: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', ...fields };
    expect(() => parseConfig({ models: [entry] })).toThrow(new ConfigError(message));
  });

  it('names the entry by its index among several models', () => {
    expect(() =>
      parseConfig({
        models: [
          { name: 'sim', backend: 'sim' },
          { name: 'remote', backend: 'ollama' },
        ],
      }),
    ).toThrow(new ConfigError('models[1] (remote).baseUrl: missing; the upstream\'s http(s) URL, e.g. "http://localhost:11434"'));
  });

  it('a key variable unset after parsing still stops the catalog from being built', () => {
    process.env.TOKENRELAY_TEST_LATE_KEY = 'k';
    const { models } = parseConfig({
      models: [{ name: 'm', backend: 'openai', baseUrl: 'http://h/v1', apiKeyEnv: 'TOKENRELAY_TEST_LATE_KEY' }],
    });
    delete process.env.TOKENRELAY_TEST_LATE_KEY;
    expect(() => new ModelCatalog(models, 'm')).toThrow(
      new ConfigError('models[0] (m).apiKeyEnv: environment variable TOKENRELAY_TEST_LATE_KEY is unset or empty'),
    );
  });

  it("the README's example parses, and its values are the defaults it says they are", () => {
    const readme = readFileSync(path.join(__dirname, '../../../README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Upstream models'));
    const example = JSON.parse(/```json\n([\s\S]*?)```/.exec(section)![1]) as { models: Array<Record<string, unknown>> };
    const saved = process.env.VLLM_API_KEY;
    process.env.VLLM_API_KEY = 'k';
    try {
      const [vllm, ollama] = parseConfig(example).models as UpstreamModelConfig[];
      const defaults = upstream({ name: 'd', backend: 'openai', baseUrl: 'http://h/v1' });
      for (const field of ['timeouts', 'retry', 'maxConcurrent', 'maxQueue'] as const) expect(vllm[field]).toEqual(defaults[field]);
      expect(ollama).toMatchObject({ backend: 'ollama', model: 'llama3.2', baseUrl: 'http://localhost:11434' });
    } finally {
      if (saved === undefined) delete process.env.VLLM_API_KEY;
      else process.env.VLLM_API_KEY = saved;
    }
  });
});
