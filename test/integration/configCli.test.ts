import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
    'limits.windowTokens: unknown field (expected one of maxConcurrentStreams, maxTokens, defaultMaxTokens, maxPromptBytes, maxMessageBytes, maxPublishTokens)',
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
