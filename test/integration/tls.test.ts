import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { status as Status } from '@grpc/grpc-js';
import { type ClientTls, TokenRelayError, createClient } from '../../src/client';
import { FinishReason } from '../../src/gen/tokenrelay/v1/data_service';
import { TestCerts } from '../helpers/certs';
import { type ServerProcess, serveProcess } from '../helpers/process';
import { PythonClient } from '../helpers/python';
import { run } from '../helpers/run';
import { waitFor } from '../helpers/server';

// TLS and mTLS on both ports, with certificates openssl makes here: the TS
// SDK, a Python grpcio client and curl, each with and without a (good) client
// certificate; a plaintext client against the TLS port; expired certificates;
// a SIGHUP that swaps the certificates under a stream in flight.

const CLI = path.join(__dirname, '../../dist/cli.js');
const PROMPT = 'tokens over TLS, exactly';
const CONFIG = {
  models: [
    { name: 'echo', backend: 'echo' },
    { name: 'slow', backend: 'sim', ttftMs: 0, interTokenMs: 20 },
  ],
};

let certs: TestCerts;
let python: PythonClient;
let pem: (file: string) => Buffer;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  certs = TestCerts.create();
  pem = (file) => readFileSync(certs.file(file));
  python = await PythonClient.prepare();
  await certs.ca('ca');
  await certs.ca('rogue');
  await certs.ca('ca2');
  await certs.leaf('server', 'ca');
  await certs.leaf('server2', 'ca2');
  await certs.leaf('expired-server', 'ca', { expired: true });
  await certs.leaf('frontend', 'ca', { client: true });
  await certs.leaf('intruder', 'rogue', { client: true, cn: 'frontend' });
  await certs.leaf('stale', 'ca', { client: true, cn: 'frontend', expired: true });
  await certs.leaf('stranger', 'ca', { client: true, cn: 'stranger' });
}, 60_000);

afterEach(() => {
  for (const server of servers.splice(0)) server.kill();
});

afterAll(() => {
  python?.dispose();
  certs?.dispose();
});

async function serve(args: string[], lines?: string[], env?: NodeJS.ProcessEnv): Promise<ServerProcess> {
  const server = await serveProcess(CONFIG, 0, { args, lines, env });
  servers.push(server);
  return server;
}

/** An echo Generate through the TS SDK: its tokens, or the status it failed with. */
async function sdkGenerate(port: number, tls: ClientTls | undefined): Promise<string | Status> {
  const sdk = createClient(`127.0.0.1:${port}`, { tls, backoff: { maxAttempts: 0 } });
  try {
    let text = '';
    for await (const chunk of sdk.generate({ model: 'echo', prompt: PROMPT })) text += chunk.tokens.join('');
    return text;
  } catch (error) {
    return TokenRelayError.from(error).code;
  } finally {
    sdk.close();
  }
}

interface PythonAnswer {
  generate: { tokens?: string[]; error?: { code: string; details: string } };
}

/** An echo Generate from Python grpcio: its text, or its status code name and details. */
async function pythonGenerate(port: number, tls: Record<string, string>): Promise<string | { code: string; details: string }> {
  const answer = await python.run<PythonAnswer>(`127.0.0.1:${port}`, {
    generate: { model: 'echo', prompt: PROMPT },
    timeout_s: 10,
    tls: Object.fromEntries(Object.entries(tls).map(([key, file]) => [key, certs.file(file)])),
  });
  return answer.generate.tokens?.join('') ?? (answer.generate.error as { code: string; details: string });
}

/** curl on the HTTP port over TLS: the status line's code, or curl's exit code as `curl exit N`. */
async function curl(port: number, urlPath: string, extra: string[]): Promise<string> {
  const args = ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', ...extra, `https://127.0.0.1:${port}${urlPath}`];
  const result = await run('curl', args, { timeoutMs: 15_000 });
  return result.code === 0 ? result.stdout : `curl exit ${result.code}`;
}

describe('TLS on both ports', () => {
  it('serves the SDK, Python and curl that trust its CA; refuses plaintext and a client that trusts another CA', async () => {
    const server = await serve(['--tls-cert', certs.file('server.pem'), '--tls-key', certs.file('server.key')]);
    expect(await sdkGenerate(server.grpcPort, { ca: pem('ca.pem') })).toBe(PROMPT);
    expect(await pythonGenerate(server.grpcPort, { ca: 'ca.pem' })).toBe(PROMPT);
    // A plaintext client's HTTP/2 preface is not a TLS handshake.
    expect(await sdkGenerate(server.grpcPort, undefined)).toBe(Status.UNAVAILABLE);
    expect(await sdkGenerate(server.grpcPort, { ca: pem('rogue.pem') })).toBe(Status.UNAVAILABLE);
    expect(await pythonGenerate(server.grpcPort, { ca: 'rogue.pem' })).toEqual({
      code: 'UNAVAILABLE',
      details: expect.stringMatching(/CERTIFICATE_VERIFY_FAILED|certificate/i),
    });
    // The HTTP port: HTTPS with the same certificate; plain HTTP gets no answer.
    expect(await curl(server.httpPort, '/healthz', ['--cacert', certs.file('ca.pem')])).toBe('200');
    expect(await curl(server.httpPort, '/healthz', ['--cacert', certs.file('rogue.pem')])).toBe('curl exit 60');
    const plain = await run('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${server.httpPort}/healthz`], { timeoutMs: 10_000 });
    expect(plain.code).not.toBe(0);
    const chat = await run(
      'curl',
      [
        '-sS',
        '--max-time',
        '10',
        '--cacert',
        certs.file('ca.pem'),
        '-H',
        'content-type: application/json',
        '-d',
        JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: PROMPT }] }),
        `https://127.0.0.1:${server.httpPort}/v1/chat/completions`,
      ],
      { timeoutMs: 15_000 },
    );
    expect(JSON.parse(chat.stdout).choices[0].message.content).toContain(PROMPT);
  });

  it('an expired server certificate: the server says so at start, and clients refuse it', async () => {
    const lines: string[] = [];
    const server = await serve(['--tls-cert', certs.file('expired-server.pem'), '--tls-key', certs.file('expired-server.key')], lines);
    expect(lines.some((line) => line.includes('"the certificate has expired"'))).toBe(true);
    expect(await pythonGenerate(server.grpcPort, { ca: 'ca.pem' })).toEqual({
      code: 'UNAVAILABLE',
      details: expect.stringMatching(/certificate verify failed|CERTIFICATE_VERIFY_FAILED/i),
    });
    expect(await sdkGenerate(server.grpcPort, { ca: pem('ca.pem') })).toBe(Status.UNAVAILABLE);
    expect(await curl(server.httpPort, '/healthz', ['--cacert', certs.file('ca.pem')])).toBe('curl exit 60');
  });
});

describe('mTLS: --tls-client-ca requires a client certificate signed by that CA', () => {
  // curl's exit code for "no HTTP answer" depends on when the server closes:
  // during the handshake (35), or after it, as TLS 1.3 lets a client think (52, 56).
  it('serves clients with a good certificate on both ports, and refuses none, a rogue CA’s and an expired one', async () => {
    // The settings from the environment, as a container would give them.
    const server = await serve([], undefined, {
      TOKENRELAY_TLS_CERT: certs.file('server.pem'),
      TOKENRELAY_TLS_KEY: certs.file('server.key'),
      TOKENRELAY_TLS_CLIENT_CA: certs.file('ca.pem'),
    });
    const { grpcPort, httpPort } = server;
    expect(await pythonGenerate(grpcPort, { ca: 'ca.pem', cert: 'frontend.pem', key: 'frontend.key' })).toBe(PROMPT);
    expect(await pythonGenerate(grpcPort, { ca: 'ca.pem' })).toMatchObject({ code: 'UNAVAILABLE' });
    expect(await pythonGenerate(grpcPort, { ca: 'ca.pem', cert: 'intruder.pem', key: 'intruder.key' })).toMatchObject({
      code: 'UNAVAILABLE',
    });
    expect(await sdkGenerate(grpcPort, { ca: pem('ca.pem'), cert: pem('frontend.pem'), key: pem('frontend.key') })).toBe(PROMPT);
    expect(await sdkGenerate(grpcPort, { ca: pem('ca.pem') })).toBe(Status.UNAVAILABLE);
    expect(await sdkGenerate(grpcPort, { ca: pem('ca.pem'), cert: pem('stale.pem'), key: pem('stale.key') })).toBe(Status.UNAVAILABLE);
    const ca = ['--cacert', certs.file('ca.pem')];
    expect(await curl(httpPort, '/healthz', [...ca, '--cert', certs.file('frontend.pem'), '--key', certs.file('frontend.key')])).toBe(
      '200',
    );
    expect(await curl(httpPort, '/healthz', ca)).toMatch(/^curl exit (35|52|56)$/);
    expect(await curl(httpPort, '/healthz', [...ca, '--cert', certs.file('intruder.pem'), '--key', certs.file('intruder.key')])).toMatch(
      /^curl exit (35|52|56)$/,
    );
  });

  it('with requireClientCert false (config file) a client certificate is optional', async () => {
    const tls = { certFile: certs.file('server.pem'), keyFile: certs.file('server.key'), clientCaFile: certs.file('ca.pem') };
    const server = await serveProcess({ ...CONFIG, tls: { ...tls, requireClientCert: false } });
    servers.push(server);
    expect(await pythonGenerate(server.grpcPort, { ca: 'ca.pem' })).toBe(PROMPT);
    expect(await pythonGenerate(server.grpcPort, { ca: 'ca.pem', cert: 'frontend.pem', key: 'frontend.key' })).toBe(PROMPT);
    expect(await curl(server.httpPort, '/healthz', ['--cacert', certs.file('ca.pem')])).toBe('200');
  });

  it('a certificate whose CN names a principal authenticates as it, with no bearer token; one naming no principal is refused', async () => {
    const tls = { certFile: certs.file('server.pem'), keyFile: certs.file('server.key'), clientCaFile: certs.file('ca.pem') };
    const server = await serveProcess({ ...CONFIG, tls, auth: { principals: [{ name: 'frontend' }] } });
    servers.push(server);
    expect(await pythonGenerate(server.grpcPort, { ca: 'ca.pem', cert: 'frontend.pem', key: 'frontend.key' })).toBe(PROMPT);
    expect(await pythonGenerate(server.grpcPort, { ca: 'ca.pem', cert: 'stranger.pem', key: 'stranger.key' })).toMatchObject({
      code: 'UNAUTHENTICATED',
      details: 'missing or invalid bearer token',
    });
    const ca = ['--cacert', certs.file('ca.pem')];
    const as = (name: string) => [...ca, '--cert', certs.file(`${name}.pem`), '--key', certs.file(`${name}.key`)];
    expect(await curl(server.httpPort, '/v1/models', as('frontend'))).toBe('200');
    expect(await curl(server.httpPort, '/v1/models', as('stranger'))).toBe('401');
  });

  it('the CLI client takes --ca, --cert and --key', async () => {
    const server = await serve([
      '--tls-cert',
      certs.file('server.pem'),
      '--tls-key',
      certs.file('server.key'),
      '--tls-client-ca',
      certs.file('ca.pem'),
    ]);
    const addr = ['--addr', `127.0.0.1:${server.grpcPort}`, '--ca', certs.file('ca.pem')];
    const args = [
      CLI,
      'generate',
      ...addr,
      '--model',
      'echo',
      '--cert',
      certs.file('frontend.pem'),
      '--key',
      certs.file('frontend.key'),
      PROMPT,
    ];
    const result = await run(process.execPath, args, { timeoutMs: 20_000 });
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 0, stdout: `${PROMPT}\n` });
    const models = await run(process.execPath, [CLI, 'models', ...addr, '--cert', certs.file('frontend.pem')], { timeoutMs: 20_000 });
    expect({ code: models.code, stderr: models.stderr.trim() }).toEqual({
      code: 2,
      stderr: 'tokenrelay: --key: a client certificate needs both --cert and --key',
    });
  });
});

describe('SIGHUP re-reads the certificates', () => {
  it('a stream in flight finishes exactly; new connections get the new certificate; unusable files keep the old ones', async () => {
    // The server reads its files from these paths; the test overwrites them.
    const cert = certs.file('live.pem');
    const key = certs.file('live.key');
    copyFileSync(certs.file('server.pem'), cert);
    copyFileSync(certs.file('server.key'), key);
    const lines: string[] = [];
    const server = await serve(['--tls-cert', cert, '--tls-key', key], lines);

    // 100 tokens 20 ms apart: 2 s, over one connection made with the old certificate.
    const sdk = createClient(`127.0.0.1:${server.grpcPort}`, { tls: { ca: pem('ca.pem') } });
    const request = { model: 'slow', prompt: PROMPT, maxTokens: 100, seed: 7 };
    const tokens: string[] = [];
    let finish = FinishReason.FINISH_REASON_UNSPECIFIED;
    const stream = sdk.generate(request);
    const inFlight = (async () => {
      for await (const chunk of stream) {
        tokens.push(...chunk.tokens);
        if (chunk.finishReason !== FinishReason.FINISH_REASON_UNSPECIFIED) finish = chunk.finishReason;
      }
    })();
    await waitFor(() => tokens.length >= 5, 10_000, 'the first tokens');

    copyFileSync(certs.file('server2.pem'), cert);
    copyFileSync(certs.file('server2.key'), key);
    server.kill('SIGHUP');
    await waitFor(() => lines.some((line) => line.includes('"tls certificates reloaded"')), 10_000, 'the reload');
    expect(tokens.length).toBeLessThan(100);

    expect(await sdkGenerate(server.grpcPort, { ca: pem('ca2.pem') })).toBe(PROMPT);
    expect(await sdkGenerate(server.grpcPort, { ca: pem('ca.pem') })).toBe(Status.UNAVAILABLE);
    expect(await curl(server.httpPort, '/healthz', ['--cacert', certs.file('ca2.pem')])).toBe('200');

    await inFlight;
    sdk.close();
    // The same generation, uninterrupted, on a new connection: the stream lost and repeated nothing.
    const fresh = createClient(`127.0.0.1:${server.grpcPort}`, { tls: { ca: pem('ca2.pem') } });
    const expected: string[] = [];
    for await (const chunk of fresh.generate(request)) expected.push(...chunk.tokens);
    fresh.close();
    expect({ count: tokens.length, finish }).toEqual({ count: 100, finish: FinishReason.FINISH_REASON_LENGTH });
    expect(tokens).toEqual(expected);

    // A key that is not the certificate's: logged, and the working pair stays.
    copyFileSync(certs.file('frontend.key'), key);
    server.kill('SIGHUP');
    await waitFor(
      () => lines.some((line) => line.includes('"tls reload failed; the previous certificates stay in use"')),
      10_000,
      'the failure',
    );
    expect(lines.join('\n')).not.toContain('PRIVATE KEY');
    expect(await sdkGenerate(server.grpcPort, { ca: pem('ca2.pem') })).toBe(PROMPT);
    const metrics = await run('curl', ['-sS', '--cacert', certs.file('ca2.pem'), `https://127.0.0.1:${server.httpPort}/metrics`], {
      timeoutMs: 10_000,
    });
    expect(metrics.stdout).toContain('tokenrelay_tls_reloads_total{result="ok"} 1');
    expect(metrics.stdout).toContain('tokenrelay_tls_reloads_total{result="error"} 1');
    const notAfter = Number(/tokenrelay_tls_certificate_not_after_seconds (\d+)/.exec(metrics.stdout)?.[1]);
    expect(notAfter * 1000).toBeGreaterThan(Date.now());
  }, 60_000);
});

describe('bad TLS settings are one-line startup errors naming the setting', () => {
  it.each([
    [
      ['--tls-cert', 'server.pem', '--tls-key', 'frontend.key'],
      /^tokenrelay: tls\.keyFile: \S+frontend\.key is not the private key of \S+server\.pem$/,
    ],
    [['--tls-cert', 'missing.pem', '--tls-key', 'server.key'], /^tokenrelay: tls\.certFile: cannot read \S+missing\.pem: ENOENT$/],
    [['--tls-cert', 'server.key', '--tls-key', 'server.key'], /^tokenrelay: tls\.certFile: \S+server\.key is not a PEM certificate/],
    [['--tls-cert', 'server.pem'], /^tokenrelay: --tls-key: TLS needs both --tls-cert and --tls-key$/],
    [
      ['--tls-cert', 'server.pem', '--tls-key', 'server.key', '--tls-client-ca', 'server.key'],
      /^tokenrelay: tls\.clientCaFile: \S+server\.key is not a PEM certificate bundle/,
    ],
  ])('serve %j', async (flags, message) => {
    const args = [
      CLI,
      'serve',
      '--grpc-port',
      '0',
      '--http-port',
      '0',
      ...flags.map((flag) => (flag.startsWith('--') ? flag : certs.file(flag))),
    ];
    const result = await run(process.execPath, args, { timeoutMs: 20_000 });
    expect({ code: result.code, lines: result.stderr.trim().split('\n').length }).toEqual({ code: 2, lines: 1 });
    expect(result.stderr.trim()).toMatch(message);
    expect(result.stderr + result.stdout).not.toContain('PRIVATE KEY');
  });

  it('requireClientCert without a client CA is a config error', async () => {
    const file = certs.file('require.json');
    writeFileSync(file, JSON.stringify({ tls: { certFile: 'a.pem', keyFile: 'a.key', requireClientCert: true } }));
    const result = await run(process.execPath, [CLI, 'config', 'check', file], { timeoutMs: 20_000 });
    expect({ code: result.code, stderr: result.stderr.trim() }).toEqual({
      code: 2,
      stderr: 'tokenrelay: tls.requireClientCert: true needs tls.clientCaFile, the CA that signs the client certificates',
    });
  });
});
