import { ConfigError, DEFAULT_LIMITS, parseConfig } from '../../../src/core/config';

describe('config', () => {
  it('with nothing configured serves sim (the default) and echo', () => {
    const config = parseConfig({});
    expect(config.models.map((model) => model.name)).toEqual(['sim', 'echo']);
    expect(config.defaultModel).toBe('sim');
    expect(config.limits).toEqual(DEFAULT_LIMITS);
  });

  it('fills model defaults by backend', () => {
    const config = parseConfig({ models: [{ name: 'fast', backend: 'sim', interTokenMs: 0 }] });
    expect(config.models[0]).toEqual({ name: 'fast', backend: 'sim', ttftMs: 100, interTokenMs: 0 });
    expect(config.defaultModel).toBe('fast');
  });

  it('takes per-method deadline bounds and keeps the defaults of the others', () => {
    const config = parseConfig({ deadlines: { Generate: { maxMs: 5000 } } });
    expect(config.deadlines.Generate).toEqual({ defaultMs: 5000, maxMs: 5000 });
    expect(config.deadlines.ListModels).toEqual({ defaultMs: 10_000, maxMs: 60_000 });
  });

  it.each([
    [
      { models: [{ name: 'm', backend: 'gpt' }] },
      'models[0] (m).backend: unknown backend "gpt" (expected one of echo, sim, openai, ollama)',
    ],
    [{ models: [{ backend: 'sim' }] }, 'models[0].name: must be 1 to 128 characters from [A-Za-z0-9._:/-], got undefined'],
    [{ models: [{ name: 'm', backend: 'sim', ttftMs: -1 }] }, 'models[0] (m).ttftMs: must be a whole number from 0 to 2147483647, got -1'],
    [
      { models: [{ name: 'm', backend: 'sim', speed: 1 }] },
      'models[0] (m).speed: unknown field (expected one of name, backend, ttftMs, interTokenMs)',
    ],
    [
      {
        models: [
          { name: 'm', backend: 'sim' },
          { name: 'm', backend: 'echo' },
        ],
      },
      'models[1].name: duplicate model name "m"',
    ],
    [{ models: [] }, 'models: must be a non-empty array'],
    [{ defaultModel: 'nope' }, 'defaultModel: "nope" is not one of the configured models'],
    [{ limits: { maxTokens: 0 } }, 'limits.maxTokens: must be a whole number from 1 to 10000000, got 0'],
    [{ limits: { maxTokens: 10 } }, 'limits.defaultMaxTokens: 256 is above limits.maxTokens (10)'],
    [{ streams: { windowTokens: 'big' } }, 'streams.windowTokens: must be a whole number from 1 to 1048576, got "big"'],
    [
      { port: 1 },
      'config.port: unknown field (expected one of models, defaultModel, limits, streams, shutdownGraceMs, deadlines, timeouts, auth, keepalive, redis, tls, telemetry, cache)',
    ],
    [
      { deadlines: { Generat: { maxMs: 1 } } },
      'deadlines.Generat: unknown field (expected one of *, ListModels, Generate, Subscribe, Publish, StreamData, Cancel)',
    ],
    [{ deadlines: { Generate: { defaultMs: 10, maxMs: 5 } } }, 'deadlines.Generate.defaultMs: 10 is above maxMs (5)'],
    [{ auth: { tokens: ['short'] } }, 'auth.tokens: must be an array of strings of at least 16 characters'],
    [{ auth: { tokens: [1] } }, 'auth.tokens[0]: must be a string of at least 16 characters'],
    [
      { limits: { maxTokens: 0, maxTokenz: 5 } },
      'limits.maxTokenz: unknown field (expected one of maxConcurrentStreams, maxTokens, defaultMaxTokens, maxPromptBytes, maxMessageBytes, maxPublishTokens, maxStreamBytes, maxStreamsPerConnection, maxConnections, perPrincipal)',
    ],
  ])('rejects %j with a message naming the field', (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(new ConfigError(message));
  });
});

describe('tls', () => {
  it('is absent by default, and requires client certificates exactly when a client CA is set, unless turned off', () => {
    expect(parseConfig({}).tls).toBeUndefined();
    expect(parseConfig({ tls: { certFile: 'c.pem', keyFile: 'k.pem' } }).tls).toEqual({
      certFile: 'c.pem',
      keyFile: 'k.pem',
      requireClientCert: false,
    });
    expect(parseConfig({ tls: { certFile: 'c.pem', keyFile: 'k.pem', clientCaFile: 'ca.pem' } }).tls?.requireClientCert).toBe(true);
    const optional = { certFile: 'c.pem', keyFile: 'k.pem', clientCaFile: 'ca.pem', requireClientCert: false };
    expect(parseConfig({ tls: optional }).tls?.requireClientCert).toBe(false);
  });

  it.each([
    [{ tls: { certFile: 'c.pem' } }, 'tls.keyFile: must be a file path'],
    [{ tls: { certFile: '', keyFile: 'k.pem' } }, 'tls.certFile: must be a file path'],
    [{ tls: { certFile: 'c.pem', keyFile: 'k.pem', requireClientCert: 'yes' } }, 'tls.requireClientCert: must be true or false'],
    [
      { tls: { certFile: 'c.pem', keyFile: 'k.pem', requireClientCert: true } },
      'tls.requireClientCert: true needs tls.clientCaFile, the CA that signs the client certificates',
    ],
    [{ tls: { cert: 'c.pem' } }, 'tls.cert: unknown field (expected one of certFile, keyFile, clientCaFile, requireClientCert)'],
  ])('rejects %j naming the field', (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(new ConfigError(message));
  });
});
