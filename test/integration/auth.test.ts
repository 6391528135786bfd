import path from 'node:path';
import { credentials, loadPackageDefinition, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { DataServiceClient, ListModelsResponse, PublishResponse } from '../../src/gen/tokenrelay/v1/data_service';
import { check, healthClient } from '../helpers/health';
import { httpRequest } from '../helpers/httpClient';
import { paced, ScriptedModel, sleep } from '../helpers/models';
import { collect, memoryLogger, request, startTestServer, type TestServer } from '../helpers/server';

const TOKEN = 'a-secret-token-of-32-characters!';
const MESSAGE = 'missing or invalid bearer token';

function withAuthorization(value?: string): Metadata {
  const metadata = new Metadata();
  if (value !== undefined) metadata.set('authorization', value);
  return metadata;
}

function listModels(client: DataServiceClient, metadata: Metadata): Promise<ListModelsResponse> {
  return new Promise((resolve, reject) =>
    client.listModels({}, metadata, (error, response) => (error ? reject(error) : resolve(response))),
  );
}

/** grpc.reflection.v1 list_services, with no metadata at all (or the given). */
function listServices(address: string, metadata = new Metadata()): Promise<string[]> {
  const protoPath = path.join(__dirname, '../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const reflection = (loadPackageDefinition(loadSync(protoPath, { keepCase: true })) as any).grpc.reflection.v1;
  const client = new reflection.ServerReflection(address, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo(metadata);
    call.on('data', (response: { list_services_response?: { service: Array<{ name: string }> }; error_response?: unknown }) => {
      if (response.list_services_response) resolve(response.list_services_response.service.map((service) => service.name));
      else reject(new Error(`unexpected reflection response ${JSON.stringify(response)}`));
      call.end();
    });
    call.on('error', (error: ServiceError) => reject(error));
    call.on('end', () => client.close());
    call.write({ list_services: '' });
  });
}

/** Every way to present no valid token, each expected to get the same answer. */
const REJECTED: Array<[string, string | undefined]> = [
  ['no authorization header', undefined],
  ['a wrong token', 'Bearer not-the-secret-token-but-32-chars'],
  ['a token that is a prefix of the right one', `Bearer ${TOKEN.slice(0, 20)}`],
  ['a malformed header (Basic scheme)', `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`],
  ['a malformed header (no scheme)', TOKEN],
  ['a malformed header (Bearer with no token)', 'Bearer '],
];

describe('bearer-token auth (auth.tokens)', () => {
  let t: TestServer;
  let counter: ScriptedModel;
  beforeAll(async () => {
    t = await startTestServer({ auth: { tokens: [TOKEN] } });
    counter = new ScriptedModel('auth-counter', paced(['ok'], 0));
    t.server.models.register(counter);
  });
  afterAll(() => t.close());

  it.each(REJECTED)('%s is UNAUTHENTICATED with the one message, and starts no producer', async (_name, header) => {
    const before = counter.starts;
    const { tokens, error } = await collect(t.client.generate(request({ model: 'auth-counter', prompt: 'x' }), withAuthorization(header)));
    expect(error?.code).toBe(status.UNAUTHENTICATED);
    expect(error?.details).toBe(MESSAGE);
    expect(tokens).toEqual([]);
    await expect(listModels(t.client, withAuthorization(header))).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
      details: MESSAGE,
    });
    await sleep(20);
    expect(counter.starts).toBe(before);
  });

  it('a Publish without a valid token is UNAUTHENTICATED and opens no stream', async () => {
    const result = await new Promise<{ error?: ServiceError; response?: PublishResponse }>((resolve) => {
      const call = t.client.publish(withAuthorization('Bearer wrong-wrong-wrong-wrong'), (error, response) =>
        resolve(error ? { error } : { response }),
      );
      call.write({ open: { streamId: 'auth-pub', model: '', resumable: false } });
      call.write({ chunk: { streamId: '', seq: 0, tokens: ['sneaky'], finishReason: 0, heartbeat: false } });
      call.end();
    });
    expect(result.error?.code).toBe(status.UNAUTHENTICATED);
    expect(result.error?.details).toBe(MESSAGE);
    expect(t.server.registry.get('auth-pub')).toBeUndefined();
  });

  it('the right token works, whatever the case of "Bearer"', async () => {
    for (const header of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`]) {
      const { tokens, error } = await collect(
        t.client.generate(request({ model: 'echo', prompt: 'let me in' }), withAuthorization(header)),
      );
      expect(error).toBeUndefined();
      expect(tokens.join('')).toBe('let me in');
    }
    const models = await listModels(t.client, withAuthorization(`Bearer ${TOKEN}`));
    expect(models.models.map((model) => model.name)).toEqual(expect.arrayContaining(['echo', 'sim', 'slow']));
  });

  it('health Check and reflection stay open without a token', async () => {
    const health = healthClient(t.address);
    try {
      expect(await check(health, '')).toBe('SERVING');
      expect(await check(health, 'tokenrelay.v1.DataService')).toBe('SERVING');
    } finally {
      health.close();
    }
    expect(await listServices(t.address)).toEqual(expect.arrayContaining(['tokenrelay.v1.DataService', 'grpc.health.v1.Health']));
  });
});

describe('auth.protectMetrics and auth.protectReflection', () => {
  it('put /metrics and reflection behind the same tokens; health stays open', async () => {
    const t = await startTestServer({ auth: { tokens: [TOKEN], protectMetrics: true, protectReflection: true } });
    try {
      const port = t.server.httpPort ?? 0;
      const denied = await httpRequest(port, '/metrics');
      expect({ status: denied.status, text: denied.text, challenge: denied.headers['www-authenticate'] }).toEqual({
        status: 401,
        text: 'missing or invalid bearer token\n',
        challenge: 'Bearer',
      });
      expect((await httpRequest(port, '/metrics', { headers: { authorization: 'Bearer wrong-token-of-16-chars' } })).status).toBe(401);
      const allowed = await httpRequest(port, '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
      expect({ status: allowed.status, hasMetrics: allowed.text.includes('tokenrelay_grpc_calls_total') }).toEqual({
        status: 200,
        hasMetrics: true,
      });
      expect((await httpRequest(port, '/healthz')).status).toBe(200);

      await expect(listServices(t.address)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${TOKEN}`);
      expect(await listServices(t.address, metadata)).toContain('tokenrelay.v1.DataService');
      const health = healthClient(t.address);
      try {
        expect(await check(health, '')).toBe('SERVING');
      } finally {
        health.close();
      }
    } finally {
      await t.close();
    }
  });

  it('without tokens to check they are a config error', async () => {
    await expect(startTestServer({ auth: { protectMetrics: true } })).rejects.toThrow(
      'auth.protectMetrics: true needs bearer tokens (auth.tokens, auth.tokensEnv or auth.principals) to check',
    );
  });
});

describe('bearer-token auth (auth.tokensEnv)', () => {
  const ENV = 'TOKENRELAY_TEST_AUTH_TOKENS';
  const FIRST = 'first-env-token-of-enough-length';
  const SECOND = 'second-env-token-of-enough-length';
  let t: TestServer;
  beforeAll(async () => {
    process.env[ENV] = ` ${FIRST} , ${SECOND} `;
    t = await startTestServer({ auth: { tokensEnv: ENV } });
  });
  afterAll(async () => {
    delete process.env[ENV];
    await t.close();
  });

  it('accepts each token in the variable and nothing else', async () => {
    for (const token of [FIRST, SECOND]) {
      const { tokens, error } = await collect(
        t.client.generate(request({ model: 'echo', prompt: 'env' }), withAuthorization(`Bearer ${token}`)),
      );
      expect(error).toBeUndefined();
      expect(tokens.join('')).toBe('env');
    }
    for (const header of [undefined, `Bearer ${FIRST},${SECOND}`, `Bearer ${TOKEN}`]) {
      const { error } = await collect(t.client.generate(request({ model: 'echo', prompt: 'env' }), withAuthorization(header)));
      expect(error?.code).toBe(status.UNAUTHENTICATED);
      expect(error?.details).toBe(MESSAGE);
    }
  });

  it('an unset variable is a config error at start, not an open server', async () => {
    await expect(startTestServer({ auth: { tokensEnv: 'TOKENRELAY_TEST_AUTH_UNSET' } })).rejects.toThrow(
      'auth.tokensEnv: environment variable TOKENRELAY_TEST_AUTH_UNSET is unset or empty',
    );
  });
});

describe('the bearer token in logs', () => {
  it('never appears in any log line, whatever the call did', async () => {
    const { logger, lines } = memoryLogger('trace');
    const t = await startTestServer({ auth: { tokens: [TOKEN] } }, { logger });
    const { server, client } = t;
    server.models.register(
      new ScriptedModel('auth-crash', async (sink) => {
        await sink.append('before');
        throw new Error('model failed');
      }),
    );
    try {
      const good = withAuthorization(`Bearer ${TOKEN}`);
      expect((await collect(client.generate(request({ model: 'echo', prompt: 'fine' }), good))).error).toBeUndefined();
      expect((await collect(client.generate(request({ model: 'nope', prompt: 'x' }), good))).error?.code).toBe(status.NOT_FOUND);
      expect((await collect(client.generate(request({ model: 'auth-crash', prompt: 'x' }), good))).error?.code).toBe(status.INTERNAL);
      const cancelled = client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 500 }), good);
      cancelled.on('error', () => undefined);
      await new Promise((resolve) => cancelled.once('data', resolve));
      cancelled.cancel();
      const wrong = withAuthorization(`Bearer ${TOKEN.slice(0, -1)}?`);
      expect((await collect(client.generate(request({ model: 'echo', prompt: 'x' }), wrong))).error?.code).toBe(status.UNAUTHENTICATED);
      await sleep(100);
    } finally {
      await t.close();
    }
    expect(lines.length).toBeGreaterThanOrEqual(5); // the calls were logged (the test is not vacuous)
    expect(lines.some((line) => line.includes('"method":"/tokenrelay.v1.DataService/Generate"'))).toBe(true);
    const leaks = lines.filter((line) => line.includes(TOKEN) || line.includes(TOKEN.slice(0, -1)));
    expect(leaks).toEqual([]);
  });
});
