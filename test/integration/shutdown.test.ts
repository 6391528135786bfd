import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import { DataServiceClient } from '../../src/gen/tokenrelay/v1/data_service';
import { check, healthClient } from '../helpers/health';
import { collect, request } from '../helpers/server';

const CLI = path.join(__dirname, '../../dist/cli.js');

interface Served {
  child: ChildProcess;
  grpcPort: number;
  httpPort: number;
  exit: Promise<number | null>;
}

/** Starts `tokenrelay serve` as a real process and reads its ports from the startup log line. */
async function serve(config: object): Promise<Served> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm test does it first)`);
  const dir = mkdtempSync(path.join(tmpdir(), 'tokenrelay-shutdown-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config));
  const child = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--grpc-port', '0', '--http-port', '0', '--config', file], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started = await new Promise<{ grpcPort: number; httpPort: number }>((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (data: Buffer) => {
      buffered += data.toString();
      for (const line of buffered.split('\n')) {
        if (line.includes('"tokenrelay serving"')) resolve(JSON.parse(line));
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited early with ${code}`)));
  });
  return { child, ...started, exit };
}

const CONFIG = {
  models: [{ name: 'slow', backend: 'sim', ttftMs: 0, interTokenMs: 20 }],
};

describe('graceful shutdown on SIGTERM', () => {
  it('ends a stream still running after the grace period with UNAVAILABLE, refuses new calls, and exits 0', async () => {
    const served = await serve({ ...CONFIG, shutdownGraceMs: 500 });
    const address = `127.0.0.1:${served.grpcPort}`;
    const client = new DataServiceClient(address, credentials.createInsecure());
    const health = healthClient(address);
    try {
      const running = collect(client.generate(request({ prompt: 'x', maxTokens: 4000 })));
      await new Promise((resolve) => setTimeout(resolve, 200));
      served.child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await check(health, '')).toBe('NOT_SERVING');
      const ready = await fetch(`http://127.0.0.1:${served.httpPort}/readyz`);
      expect(ready.status).toBe(503);
      const refused = await collect(client.generate(request({ prompt: 'x', maxTokens: 5 })));
      expect(refused.error?.code).toBe(status.UNAVAILABLE);
      const { error, tokens } = await running;
      expect(error?.code).toBe(status.UNAVAILABLE);
      expect(tokens.length).toBeGreaterThan(5);
      expect(tokens.length).toBeLessThan(4000);
      expect(await served.exit).toBe(0);
    } finally {
      client.close();
      health.close();
      served.child.kill('SIGKILL');
    }
  });

  it('lets a stream that ends within the grace period finish, then exits 0', async () => {
    const served = await serve({ ...CONFIG, shutdownGraceMs: 5000 });
    const client = new DataServiceClient(`127.0.0.1:${served.grpcPort}`, credentials.createInsecure());
    try {
      const running = collect(client.generate(request({ prompt: 'x', maxTokens: 25 })));
      await new Promise((resolve) => setTimeout(resolve, 100));
      served.child.kill('SIGTERM');
      const { error, tokens } = await running;
      expect(error).toBeUndefined();
      expect(tokens).toHaveLength(25);
      expect(await served.exit).toBe(0);
    } finally {
      client.close();
      served.child.kill('SIGKILL');
    }
  });
});
