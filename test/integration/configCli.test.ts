import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { configJsonSchema, parseConfig } from '../../src/core/config';
import { configTable } from '../helpers/configTable';
import { describeRun, run } from '../helpers/run';

/** `tokenrelay config check` and `config schema`, the committed schema, and the README's reference table. */

const ROOT = path.join(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/cli.js');

function file(config: object): string {
  const name = path.join(mkdtempSync(path.join(tmpdir(), 'tokenrelay-')), 'config.json');
  writeFileSync(name, JSON.stringify(config));
  return name;
}

it('config check says ok for a good file and exits 0', async () => {
  const good = file({ streams: { store: 'redis' }, redis: { url: 'redis://cache:6379' } });
  const result = await run(process.execPath, [CLI, 'config', 'check', good]);
  expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 0, stdout: `${good}: ok\n` });
});

it.each([
  // The timer bug: Node fires any timer past 2^31-1 ms after 1 ms, so these would cancel every abandoned stream at once, or spin.
  [{ streams: { resumeGraceMs: 3_000_000_000 } }, 'streams.resumeGraceMs: must be a whole number from 0 to 2147483647, got 3000000000'],
  [{ streams: { heartbeatMs: 2_147_483_648 } }, 'streams.heartbeatMs: must be a whole number from 10 to 2147483647, got 2147483648'],
  [
    { deadlines: { Generate: { maxMs: 1e12 } } },
    'deadlines.Generate.maxMs: must be a whole number from 0 to 2147483647, got 1000000000000',
  ],
  [
    { limits: { windowTokens: 5 } },
    'limits.windowTokens: unknown field (expected one of maxConcurrentStreams, maxTokens, defaultMaxTokens, maxPromptBytes, maxMessageBytes, maxPublishTokens, maxStreamBytes, maxStreamsPerConnection, maxConnections, perPrincipal)',
  ],
])('an out-of-range value is a one-line startup error naming the key, the range and the value: %j', async (config, message) => {
  const name = file(config);
  for (const args of [
    ['config', 'check', name],
    ['serve', '--grpc-port', '0', '--http-port', '0', '--config', name],
  ]) {
    const result = await run(process.execPath, [CLI, ...args], { timeoutMs: 10_000 });
    expect({ args: args[0], code: result.code, stderr: result.stderr }).toEqual({
      args: args[0],
      code: 2,
      stderr: `tokenrelay: ${message}\n`,
    });
  }
  expect(() => parseConfig(config)).toThrow(message);
});

it('config schema prints the JSON Schema committed as config.schema.json', async () => {
  const result = await run(process.execPath, [CLI, 'config', 'schema']);
  if (result.code !== 0) throw new Error(describeRun('tokenrelay', ['config', 'schema'], result));
  const committed = readFileSync(path.join(ROOT, 'config.schema.json'), 'utf8');
  // If this fails, the config schema changed: run `node dist/cli.js config schema > config.schema.json`.
  expect(result.stdout).toBe(committed);
  expect(JSON.parse(committed)).toEqual(JSON.parse(JSON.stringify(configJsonSchema())));
});

it('the README carries the configuration table rendered from the schema', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const match = /<!-- config table: generated from the schema -->\n([\s\S]*?)\n<!-- end of config table -->/.exec(readme);
  expect(match).not.toBeNull();
  // If this fails, paste the expected table into the README between the markers.
  expect(match?.[1]).toBe(configTable(configJsonSchema()));
});

it('config check applies the environment overlay, and refuses a bad one in one line without echoing a password', async () => {
  const good = file({});
  const cases: Array<[NodeJS.ProcessEnv, string]> = [
    [{ TOKENRELAY_STORE: 'postgres' }, 'TOKENRELAY_STORE: must be "memory" or "redis", got "postgres"'],
    [
      { TOKENRELAY_REDIS_URL: 'http://:hunter2-secret@cache:6379' },
      'TOKENRELAY_REDIS_URL: must start with redis:// or rediss://, got "http"',
    ],
  ];
  for (const [env, message] of cases) {
    const result = await run(process.execPath, [CLI, 'config', 'check', good], { env: { ...process.env, ...env } });
    expect({ code: result.code, lines: result.stderr.trim().split('\n').length }).toEqual({ code: 2, lines: 1 });
    expect(result.stderr).toContain(`tokenrelay: ${message}`);
    expect(result.stderr + result.stdout).not.toContain('hunter2-secret');
  }
  const overlaid = await run(process.execPath, [CLI, 'config', 'check', good], {
    env: { ...process.env, TOKENRELAY_STORE: 'redis', TOKENRELAY_REDIS_URL: 'rediss://user:pw@redis.internal:6380/0' },
  });
  expect({ code: overlaid.code, stdout: overlaid.stdout }).toEqual({ code: 0, stdout: `${good}: ok\n` });
});

it.each([
  [['config', 'check', '/nonexistent/config.json'], /^tokenrelay: config file \/nonexistent\/config\.json: ENOENT/],
  [['config', 'check'], /^tokenrelay: config: use "config check FILE" or "config schema"$/],
  [['config', 'lint', 'x.json'], /^tokenrelay: config: use "config check FILE" or "config schema"$/],
  [['config', 'schema', 'extra'], /^tokenrelay: config: use "config check FILE" or "config schema"$/],
])('tokenrelay %j is a one-line usage or file error, exit 2', async (args, message) => {
  const result = await run(process.execPath, [CLI, ...args]);
  expect({ code: result.code, lines: result.stderr.trim().split('\n').length, stdout: result.stdout }).toEqual({
    code: 2,
    lines: 1,
    stdout: '',
  });
  expect(result.stderr.trim()).toMatch(message);
});

it('config check refuses a file that is not JSON in one line', async () => {
  const name = path.join(mkdtempSync(path.join(tmpdir(), 'tokenrelay-')), 'config.json');
  writeFileSync(name, '{ "limits": ');
  const result = await run(process.execPath, [CLI, 'config', 'check', name]);
  expect({ code: result.code, lines: result.stderr.trim().split('\n').length }).toEqual({ code: 2, lines: 1 });
  expect(result.stderr).toContain(`tokenrelay: config file ${name}: not valid JSON: `);
});

it('--help lists the config commands', async () => {
  const result = await run(process.execPath, [CLI, '--help']);
  expect(result.code).toBe(0);
  expect(result.stdout).toContain('  tokenrelay config check FILE\n');
  expect(result.stdout).toContain('  tokenrelay config schema\n');
});

it('every config example in the README validates against the committed config.schema.json (and the check is not vacuous)', () => {
  // The schema an editor or a deploy pipeline would use, checked by a standard
  // JSON Schema validator rather than by the server's own parser.
  const ajv = new Ajv2020({ allErrors: false, strict: true });
  const validate = ajv.compile(JSON.parse(readFileSync(path.join(ROOT, 'config.schema.json'), 'utf8')));
  const violation = (config: unknown): string | undefined =>
    validate(config) ? undefined : validate.errors?.map((error) => `${error.instancePath} ${error.message}`).join('; ');
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => JSON.parse(match[1]) as Record<string, unknown>);
  // The same blocks test/integration/readme.test.ts holds to parseConfig.
  const configs = blocks.filter((block) =>
    ['models', 'streams', 'redis', 'limits', 'auth', 'tls', 'telemetry'].some((key) => key in block),
  );
  expect(configs.length).toBeGreaterThanOrEqual(3);
  for (const config of configs) expect(violation(config)).toBeUndefined();
  expect([
    violation({ streams: { resumeGraceMs: 3_000_000_000 } }),
    violation({ streams: { heartbeatMs: 2 ** 31 } }),
    violation({ port: 1 }),
    violation({ models: [{ name: 'remote', backend: 'ollama' }] }),
    violation({ limits: { windowTokens: 5 } }),
  ]).toEqual([
    '/streams/resumeGraceMs must be <= 2147483647',
    '/streams/heartbeatMs must be <= 2147483647',
    ' must NOT have additional properties',
    expect.stringContaining('/models/0'),
    '/limits must NOT have additional properties',
  ]);
});
