import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeRun, run } from '../helpers/run';

/** Bad redis settings stop `tokenrelay serve` at once: one line naming the key, exit 2, no secret repeated. */

const CLI = path.join(__dirname, '../../dist/cli.js');

async function serveWith(config: object | undefined, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const extra: string[] = [];
  if (config) {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'tokenrelay-')), 'config.json');
    writeFileSync(file, JSON.stringify(config));
    extra.push('--config', file);
  }
  const argv = [CLI, 'serve', '--grpc-port', '0', '--http-port', '0', ...extra, ...args];
  const result = await run(process.execPath, argv, { env: { ...process.env, ...env }, timeoutMs: 10_000 });
  return { ...result, where: describeRun('tokenrelay', argv, result) };
}

it.each([
  [
    '--workers 2 with the memory store',
    undefined,
    ['--workers', '2'],
    {},
    /^tokenrelay: --workers: 2 workers need streams\.store "redis" \(or TOKENRELAY_STORE=redis\), got "memory"/,
  ],
  [
    '--workers 0',
    { streams: { store: 'redis' } },
    ['--workers', '0'],
    {},
    /^tokenrelay: --workers: must be a whole number from 1 to 64, got 0$/,
  ],
  [
    'a redis.url that is not redis://',
    { streams: { store: 'redis' }, redis: { url: 'http://cache:6379' } },
    [],
    {},
    /^tokenrelay: redis\.url: must start with redis:\/\/ or rediss:\/\/, got "http"/,
  ],
  ['a redis.url that is not a URL', { redis: { url: '//cache:6379' } }, [], {}, /^tokenrelay: redis\.url: not a valid URL/],
  [
    'a TOKENRELAY_REDIS_URL without a host',
    undefined,
    [],
    { TOKENRELAY_REDIS_URL: 'redis://' },
    /^tokenrelay: TOKENRELAY_REDIS_URL: (has no host|not a valid URL)/,
  ],
  [
    'a TOKENRELAY_STORE that is neither',
    undefined,
    [],
    { TOKENRELAY_STORE: 'postgres' },
    /^tokenrelay: TOKENRELAY_STORE: must be "memory" or "redis", got "postgres"$/,
  ],
  [
    'a leaseMs out of range',
    { redis: { leaseMs: 50 } },
    [],
    {},
    /^tokenrelay: redis\.leaseMs: must be a whole number from 1000 to 300000, got 50$/,
  ],
  ['an unknown redis key', { redis: { host: 'cache' } }, [], {}, /^tokenrelay: redis\.host: unknown field/],
])('%s is a one-line startup error naming the key, exit 2', async (_name, config, args, env, message) => {
  const result = await serveWith(config, args, env);
  expect({ code: result.code, lines: result.stderr.trim().split('\n').length }).toEqual({ code: 2, lines: 1 });
  expect(result.stderr.trim()).toMatch(message);
});

it('a redis.url with a password that is malformed is refused without repeating the password', async () => {
  const result = await serveWith({ redis: { url: 'redis://:hunter2-secret@cache:notaport' } });
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/^tokenrelay: redis\.url: /);
  expect(result.stderr + result.stdout).not.toContain('hunter2-secret');
});
