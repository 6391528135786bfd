import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeRun, run } from '../helpers/run';
import { collect, request, startTestServer, type TestServer } from '../helpers/server';

// examples/python and examples/go, generated and built with each language's
// stock toolchain from Debian's packages (Go offline, in GOPATH mode), run
// against a real server. Each prints what it saw; the assertions are here:
// every token exactly once across the dropped connection, the cancel, the
// published tokens, and the error details.

const ROOT = path.join(__dirname, '../..');
const PROTOC = '/usr/bin/protoc';
const PYTHON = '/usr/bin/python3';
const GO = '/usr/bin/go';
const GOCODE = '/usr/share/gocode';
const PROMPT = 'Tell me about token streams'; // the examples' prompt

interface ExampleOutput {
  generate: { tokens: string[]; finish_reason: string };
  resume: { stream_id: string; before_drop: string[]; after_resume: string[] };
  session: {
    long: { token_count: number; code?: string; error?: { code: string; reasons: string[] }; reasons?: string[] };
    short: { tokens: string[]; finish_reason: string };
  };
  publish: { tokens_accepted: number; read_back: string[] };
  error_details: { code: string; message: string; reasons: string[] };
}

let t: TestServer;
let work: string;
let reference20: string[];
let reference40: string[];

async function ok(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  const result = await run(command, args, { cwd: ROOT, timeoutMs: 60_000, ...options });
  if (result.code !== 0) throw new Error(describeRun(command, args, result));
  return result.stdout;
}

function requireTools(tools: string[], packages: string): void {
  const missing = tools.filter((tool) => !existsSync(tool));
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: install ${packages} (.ci/run does)`);
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'tokenrelay-examples-'));
  // A paced sim, so the examples' connection drop and cancel happen mid-stream.
  t = await startTestServer({
    models: [
      { name: 'echo', backend: 'echo' },
      { name: 'sim', backend: 'sim', ttftMs: 0, interTokenMs: 5 },
    ],
  });
  const reference = async (maxTokens: number) =>
    (await collect(t.client.generate(request({ model: 'sim', prompt: PROMPT, maxTokens, seed: 7 })))).tokens;
  reference20 = await reference(20);
  reference40 = await reference(40);
});

afterAll(async () => {
  await t?.close();
  rmSync(work, { recursive: true, force: true });
});

function expectTheExampleSawEverything(output: ExampleOutput, language: string): void {
  expect(output.generate).toEqual({ tokens: reference20, finish_reason: 'FINISH_REASON_LENGTH' });
  // Every token exactly once across the dropped connection.
  expect(output.resume.before_drop.length).toBeGreaterThanOrEqual(10);
  expect([...output.resume.before_drop, ...output.resume.after_resume]).toEqual(reference40);
  expect(output.session.short).toEqual({ tokens: ['one', ' session', ',', ' many', ' streams'], finish_reason: 'FINISH_REASON_STOP' });
  expect(output.session.long.token_count).toBeGreaterThanOrEqual(5);
  expect(output.session.long.token_count).toBeLessThan(4000);
  expect(output.publish).toEqual({ tokens_accepted: 5, read_back: ['Tokens', ' from', ' a', ` ${language}`, ' producer'] });
  expect(output.error_details.message).toBe('stream_id: no stream with id "no-such-stream"');
  expect(output.error_details.reasons).toEqual(['STREAM_NOT_FOUND']);
}

it('examples/python: generate, resume after a dropped connection, a session with a cancel, publish, error details', async () => {
  requireTools(
    [PROTOC, '/usr/bin/grpc_python_plugin', PYTHON],
    'protobuf-compiler, protobuf-compiler-grpc, python3-grpcio and python3-protobuf',
  );
  const stubs = path.join(work, 'python');
  mkdirSync(stubs);
  const files = ['tokenrelay/v1/data_service.proto', 'google/rpc/status.proto', 'google/rpc/error_details.proto'];
  await ok(PROTOC, [
    '-I',
    'proto',
    `--python_out=${stubs}`,
    `--grpc_out=${stubs}`,
    '--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin',
    ...files,
  ]);
  // -s: not the user's site-packages; only Debian's packages and the stubs.
  const stdout = await ok(PYTHON, ['-s', 'examples/python/tokenrelay_example.py', t.address], {
    env: { PATH: process.env.PATH, PYTHONPATH: stubs },
  });
  const output = JSON.parse(stdout) as ExampleOutput;
  expectTheExampleSawEverything(output, 'Python');
  expect(output.session.long.error).toEqual({ code: 'CANCELLED', reasons: ['STREAM_CANCELLED'] });
  expect(output.error_details.code).toBe('NOT_FOUND');
});

it('examples/go: the same, built offline in GOPATH mode', async () => {
  requireTools(
    [PROTOC, GO, '/usr/bin/protoc-gen-go', '/usr/bin/protoc-gen-go-grpc', path.join(GOCODE, 'src/google.golang.org/grpc')],
    'golang-go, golang-google-grpc-dev, golang-google-protobuf-dev, golang-github-golang-protobuf-1-5-dev, golang-google-genproto-dev, protoc-gen-go and protoc-gen-go-grpc',
  );
  const gopath = path.join(work, 'go');
  mkdirSync(path.join(gopath, 'src'), { recursive: true });
  await ok(PROTOC, ['-I', 'proto', `--go_out=${gopath}/src`, `--go-grpc_out=${gopath}/src`, 'tokenrelay/v1/data_service.proto']);
  const binary = path.join(gopath, 'tokenrelay-example');
  const env = {
    PATH: process.env.PATH,
    HOME: work,
    GO111MODULE: 'off',
    GOPATH: `${gopath}:${GOCODE}`,
    GOFLAGS: '',
    // Kept between runs: the first build compiles grpc-go from source.
    GOCACHE: path.join(os.tmpdir(), 'tokenrelay-examples-gocache'),
  };
  await ok(GO, ['build', '-o', binary, 'examples/go/main.go'], { env, timeoutMs: 240_000 });
  const output = JSON.parse(await ok(binary, [t.address])) as ExampleOutput;
  expectTheExampleSawEverything(output, 'Go');
  expect(output.session.long).toMatchObject({ code: 'Canceled', reasons: ['STREAM_CANCELLED'] });
  expect(output.error_details.code).toBe('NotFound');
}, 300_000);
