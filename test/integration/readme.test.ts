import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/core/config';
import { readmeSdkExample } from '../helpers/readme';
import { run } from '../helpers/run';
import { startTestServer, type TestServer } from '../helpers/server';

/** The README's SDK example, run as written against a real server (only the address and import path differ). */
describe('the README', () => {
  let t: TestServer;
  const dir = path.join(__dirname, '.readme-example');
  beforeAll(async () => (t = await startTestServer()));
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t.close();
  });

  it('SDK example runs and prints what it says', async () => {
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'example.ts');
    writeFileSync(file, readmeSdkExample(t.address, path.join(__dirname, '../../src/client')));
    const logged: unknown[][] = [];
    const written: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void logged.push(args));
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((text: string | Uint8Array) => {
      written.push(String(text));
      return true;
    });
    try {
      const example = (await import(file)) as { main: () => Promise<void> };
      await example.main();
    } finally {
      log.mockRestore();
      write.mockRestore();
    }
    expect(written.join('').length).toBeGreaterThan(50);
    const replayed = logged.filter((args) => typeof args[0] === 'number' && Array.isArray(args[1])) as Array<[number, string[]]>;
    expect(replayed[0][0]).toBe(40);
    expect(replayed.flatMap(([, tokens]) => tokens)).toHaveLength(10);
    expect(logged).toContainEqual([3]);
    expect(logged).toContainEqual([['one']]);
  });

  it('every config example is a config the server accepts', () => {
    const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => JSON.parse(match[1]) as Record<string, unknown>);
    const configs = blocks.filter((block) =>
      ['models', 'streams', 'redis', 'limits', 'auth', 'tls', 'telemetry'].some((key) => key in block),
    );
    expect(configs.length).toBeGreaterThanOrEqual(3);
    const saved = process.env.VLLM_API_KEY;
    process.env.VLLM_API_KEY = 'an-example-key'; // the upstream example names it
    try {
      for (const config of configs) expect(() => parseConfig(config)).not.toThrow();
    } finally {
      if (saved === undefined) delete process.env.VLLM_API_KEY;
      else process.env.VLLM_API_KEY = saved;
    }
  });

  it('the Python stub command runs as written on a fresh clone (gen/ does not exist yet)', async () => {
    const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## From Python'));
    const command = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    expect(command).toContain('protoc');
    const clone = mkdtempSync(path.join(os.tmpdir(), 'tokenrelay-readme-python-'));
    try {
      symlinkSync(path.join(__dirname, '../../proto'), path.join(clone, 'proto'));
      const result = await run('bash', ['-euo', 'pipefail', '-c', command], { cwd: clone, timeoutMs: 20_000 });
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      expect(readdirSync(path.join(clone, 'gen/tokenrelay/v1')).sort()).toEqual(['data_service_pb2.py', 'data_service_pb2_grpc.py']);
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  });
});
