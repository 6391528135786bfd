import path from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import { DataServiceClient } from '../../src/gen/tokenrelay/v1/data_service';
import { check, healthClient } from '../helpers/health';
import { serveProcess as serve } from '../helpers/process';
import { run } from '../helpers/run';
import { collect, request } from '../helpers/server';

const BUF = path.resolve(__dirname, '..', '..', 'node_modules', '.bin', 'buf');

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

  it('while draining, health and reflection still answer, so grpcurl and buf curl show the UNAVAILABLE, not a missing service', async () => {
    const served = await serve({ ...CONFIG, shutdownGraceMs: 5000 });
    const address = `127.0.0.1:${served.grpcPort}`;
    const client = new DataServiceClient(address, credentials.createInsecure());
    const health = healthClient(address);
    const curl = (args: string[]) =>
      run(BUF, ['curl', '--timeout', '10s', '--protocol', 'grpc', '--http2-prior-knowledge', ...args], { timeoutMs: 15_000 });
    try {
      const running = collect(client.generate(request({ prompt: 'x', maxTokens: 200 })));
      await new Promise((resolve) => setTimeout(resolve, 200));
      served.child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await check(health, '')).toBe('NOT_SERVING');
      const services = await curl(['--list-services', `http://${address}`]);
      expect(services.code).toBe(0);
      expect(services.stdout.split('\n')).toContain('tokenrelay.v1.DataService');
      const refused = await curl([`http://${address}/tokenrelay.v1.DataService/ListModels`]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/unavailable/i);
      expect(refused.stderr).toContain('the server is shutting down; retry on another replica');
      const { error, tokens } = await running;
      expect(error).toBeUndefined();
      expect(tokens).toHaveLength(200);
      expect(await served.exit).toBe(0);
    } finally {
      client.close();
      health.close();
      served.child.kill('SIGKILL');
    }
  });
});
