import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, type ServerProcess, serveProcess } from '../helpers/process';
import { type RunResult, run } from '../helpers/run';

// A newcomer's first ten minutes, each step as a real child process: every
// problem is one line on stderr naming what to change (never a stack), with
// the exit code scripts rely on: 2 for usage, config and startup, 1 at run
// time.

const ROOT = path.join(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/cli.js');
const VERSION = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;

let dir: string;
let relay: ServerProcess;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tokenrelay-first-run-'));
  relay = await serveProcess({});
});
afterAll(async () => {
  relay?.kill('SIGTERM');
  await relay?.exit;
  rmSync(dir, { recursive: true, force: true });
});

/** The CLI with these arguments and environment variables (none of the test's own TOKENRELAY_*). */
function cli(args: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<RunResult> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TOKENRELAY_')));
  return run(process.execPath, [CLI, ...args], { cwd: dir, env: { ...clean, ...env }, timeoutMs });
}

/** Exactly one line on stderr, and the exit code. */
function expectOneLine(result: RunResult, code: number, line: string | RegExp): void {
  expect({ code: result.code, lines: result.stderr.trimEnd().split('\n').length }).toEqual({ code, lines: 1 });
  if (typeof line === 'string') expect(result.stderr).toBe(`${line}\n`);
  else expect(result.stderr.trimEnd()).toMatch(line);
}

describe('serve: startup problems are one line and exit 2', () => {
  it('a gRPC port in use names --grpc-port and TOKENRELAY_GRPC_PORT', async () => {
    const result = await cli(['serve', '--host', '127.0.0.1', '--grpc-port', String(relay.grpcPort), '--http-port', '0']);
    expectOneLine(
      result,
      2,
      `tokenrelay: --grpc-port: 127.0.0.1:${relay.grpcPort} is already in use (the gRPC port); choose another with --grpc-port or TOKENRELAY_GRPC_PORT (0 picks a free one)`,
    );
    // Nothing else: not grpc-js's own "No address added ..." log line either.
    expect(result.stdout).toBe('');
  });

  it('an HTTP port in use, set by its variable, starts with the variable and names both', async () => {
    const result = await cli(['serve', '--host', '127.0.0.1', '--grpc-port', '0'], { TOKENRELAY_HTTP_PORT: String(relay.httpPort) });
    expectOneLine(
      result,
      2,
      `tokenrelay: TOKENRELAY_HTTP_PORT: 127.0.0.1:${relay.httpPort} is already in use (the HTTP port); choose another with --http-port or TOKENRELAY_HTTP_PORT (0 picks a free one)`,
    );
    expect(result.stdout).toBe('');
  });

  it('a gRPC port in use, set by its variable, starts with the variable', async () => {
    const result = await cli(['serve', '--http-port', '0'], { TOKENRELAY_HOST: '127.0.0.1', TOKENRELAY_GRPC_PORT: String(relay.grpcPort) });
    expectOneLine(
      result,
      2,
      `tokenrelay: TOKENRELAY_GRPC_PORT: 127.0.0.1:${relay.grpcPort} is already in use (the gRPC port); choose another with --grpc-port or TOKENRELAY_GRPC_PORT (0 picks a free one)`,
    );
    expect(result.stdout).toBe('');
  });

  it('a host that is not this machine names --host', async () => {
    const result = await cli(['serve', '--host', '192.0.2.1', '--grpc-port', '0', '--http-port', '0']);
    expectOneLine(
      result,
      2,
      'tokenrelay: --host: 192.0.2.1 is not an address of this machine; choose another with --host or TOKENRELAY_HOST (0.0.0.0 for every interface)',
    );
    expect(result.stdout).toBe('');
    expectOneLine(
      await cli(['serve', '--grpc-port', '0', '--http-port', '0'], { TOKENRELAY_HOST: '192.0.2.1' }),
      2,
      'tokenrelay: TOKENRELAY_HOST: 192.0.2.1 is not an address of this machine; choose another with --host or TOKENRELAY_HOST (0.0.0.0 for every interface)',
    );
  });

  it('a bad environment variable is named, not the flag', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ TOKENRELAY_HTTP_PORT: 'abc' }, 'tokenrelay: TOKENRELAY_HTTP_PORT: must be a port number from 0 to 65535, got "abc"'],
      [
        { TOKENRELAY_LOG_LEVEL: 'verbose' },
        'tokenrelay: TOKENRELAY_LOG_LEVEL: must be one of trace, debug, info, warn, error, fatal, silent, got "verbose"',
      ],
      [{ TOKENRELAY_LOG_FORMAT: 'xml' }, 'tokenrelay: TOKENRELAY_LOG_FORMAT: must be pretty or json, got "xml"'],
      [{ TOKENRELAY_WORKERS: '0' }, 'tokenrelay: TOKENRELAY_WORKERS: must be a whole number from 1 to 64, got 0'],
    ];
    for (const [env, message] of cases) expectOneLine(await cli(['serve'], env), 2, message);
    expectOneLine(await cli(['serve', '--log-format', 'xml']), 2, 'tokenrelay: --log-format: must be pretty or json, got "xml"');
  });

  it('an auth.tokensEnv whose variable is unset is a config error, for config check and serve alike', async () => {
    const file = path.join(dir, 'auth.json');
    writeFileSync(file, JSON.stringify({ auth: { tokens: [], tokensEnv: 'MY_RELAY_TOKENS' } }));
    const line = 'tokenrelay: auth.tokensEnv: environment variable MY_RELAY_TOKENS is unset or empty';
    expectOneLine(await cli(['config', 'check', file]), 2, line);
    expectOneLine(await cli(['serve', '--config', file, '--grpc-port', '0', '--http-port', '0']), 2, line);
    const set = await cli(['config', 'check', file], { MY_RELAY_TOKENS: 'a-token-of-sixteen-or-more' });
    expect({ code: set.code, stdout: set.stdout }).toEqual({ code: 0, stdout: `${file}: ok\n` });
  });

  it("a principal's tokensEnv whose variable is unset names that principal's tokensEnv", async () => {
    const file = path.join(dir, 'principals.json');
    writeFileSync(file, JSON.stringify({ auth: { principals: [{ name: 'alice', tokensEnv: 'ALICE_TOKENS', streams: 'own' }] } }));
    const line = 'tokenrelay: auth.principals[0].tokensEnv: environment variable ALICE_TOKENS is unset or empty';
    expectOneLine(await cli(['config', 'check', file]), 2, line);
    expectOneLine(await cli(['serve', '--config', file, '--grpc-port', '0', '--http-port', '0']), 2, line);
  });

  it("the README's full config example is served as written", async () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration'));
    const example = /```json\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    expect(example).toContain('"models"');
    const file = path.join(dir, 'full.json');
    writeFileSync(file, example);
    const checked = await cli(['config', 'check', file]);
    expect({ code: checked.code, stdout: checked.stdout, stderr: checked.stderr }).toEqual({
      code: 0,
      stdout: `${file}: ok\n`,
      stderr: '',
    });
    const served = await serveProcess(JSON.parse(example));
    served.kill('SIGTERM');
    expect(await served.exit).toBe(0);
  });

  it('a SIGTERM sent as soon as "tokenrelay serving" is logged stops it gracefully (exit 0), every time', async () => {
    // The handlers are in place before that line: a supervisor that reads it and stops at once must not kill it.
    for (let attempt = 0; attempt < 4; attempt++) {
      const served = await serveProcess({});
      served.kill('SIGTERM');
      expect(await served.exit).toBe(0);
    }
  });
});

describe('the CLI as a client', () => {
  it('--version prints the version', async () => {
    const result = await cli(['--version']);
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 0, stdout: `tokenrelay ${VERSION}\n` });
  });

  it('bad usage is one line with a pointer to --help, never the whole help', async () => {
    expectOneLine(
      await cli(['generate', '--max-tokens', '-1', 'hi']),
      2,
      'tokenrelay: --max-tokens: its value starts with a dash; write --max-tokens=VALUE if you mean it (see tokenrelay --help)',
    );
    expectOneLine(
      await cli(['generate', '--max-tokens=-1', 'hi']),
      2,
      'tokenrelay: --max-tokens: must be a whole number of at least 1, got "-1"',
    );
    expectOneLine(
      await cli(['bogus']),
      2,
      'tokenrelay: unknown command "bogus": use serve, generate, models or config (see tokenrelay --help)',
    );
    expectOneLine(await cli(['serve', '--bogus']), 2, /^tokenrelay: Unknown option '--bogus'.* \(see tokenrelay --help\)$/);
  });

  it('no server at the address: generate and models fail at once, exit 1, "cannot reach"', async () => {
    // A port nothing listens on.
    const nothing = await freePort();
    for (const command of [
      ['generate', '--addr', `127.0.0.1:${nothing}`, 'hi'],
      ['models', '--addr', `127.0.0.1:${nothing}`],
    ]) {
      const started = performance.now();
      const result = await cli(command);
      // The contract is "within 2 s"; the slack is for a loaded machine starting node.
      expect(performance.now() - started).toBeLessThan(3000);
      expectOneLine(result, 1, `tokenrelay: cannot reach 127.0.0.1:${nothing} (connection refused)`);
    }
  });

  it('several addresses, none answering: named as written, exit 1 within 2 s', async () => {
    const [one, two] = [await freePort(), await freePort()];
    const addresses = `127.0.0.1:${one},127.0.0.1:${two}`;
    const started = performance.now();
    const result = await cli(['models', '--addr', addresses]);
    expect(performance.now() - started).toBeLessThan(3000);
    expectOneLine(result, 1, `tokenrelay: cannot reach ${addresses} (connection refused)`);
  });

  it('a host name that does not resolve: "cannot reach" at once, not retried as a lost stream', async () => {
    // .invalid never resolves (RFC 6761). No time bound: how long a failing DNS lookup takes is the machine's.
    for (const command of [
      ['generate', '--addr', 'nosuchhost.invalid:50051', 'hi'],
      ['models', '--addr', 'dns:///nosuchhost.invalid:50051'],
    ]) {
      expectOneLine(await cli(command), 1, `tokenrelay: cannot reach ${command[2]} (unknown host)`);
    }
  });

  it('generate ends its output with a newline when stdout is not a terminal', async () => {
    const result = await cli(['generate', '--addr', `127.0.0.1:${relay.grpcPort}`, '--model', 'echo', 'Hello there']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('Hello there\n');
    expect(result.stderr).toMatch(/^\n\[stream [0-9a-f-]+: stop; prompt_tokens=\d+ completion_tokens=\d+\]\n$/);
  });
});

describe('npm start', () => {
  it('does not build again when dist/ is current', async () => {
    const result = await run(process.execPath, [path.join(ROOT, 'scripts/build-if-stale.js')], { cwd: ROOT, timeoutMs: 10_000 });
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 0, stdout: '' });
  });
});
