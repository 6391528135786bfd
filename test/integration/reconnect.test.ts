import { status } from '@grpc/grpc-js';
import { createClient, TokenRelayError } from '../../src/client';
import { simPrefix as expected } from '../helpers/tokens';
import { freePort, serveProcess, type ServerProcess } from '../helpers/process';

const CONFIG = {
  models: [{ name: 'paced', backend: 'sim', ttftMs: 0, interTokenMs: 5 }],
  streams: { heartbeatMs: 100 },
};

const servers: ServerProcess[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.kill('SIGKILL');
});

describe('the SDK reconnects to a server that stopped', () => {
  it('a server process that is stopped and started again: the stream completes with no gap and no duplicate', async () => {
    const server = await serveProcess(CONFIG);
    servers.push(server);
    const sdk = createClient(`127.0.0.1:${server.grpcPort}`, { backoff: { baseMs: 50, capMs: 300, maxAttempts: 30 } });
    try {
      const stream = sdk.generate({ prompt: 'x', maxTokens: 400, seed: 13 }, { idleTimeoutMs: 400 });
      const tokens: string[] = [];
      let stopped = false;
      for await (const chunk of stream) {
        tokens.push(...chunk.tokens);
        if (!stopped && tokens.length >= 60) {
          stopped = true;
          server.kill('SIGSTOP');
          setTimeout(() => server.kill('SIGCONT'), 1500);
        }
      }
      expect(tokens).toEqual(expected(13, 400));
      expect(stream.reconnects).toBeGreaterThanOrEqual(1);
    } finally {
      server.kill('SIGCONT');
      sdk.close();
    }
  });

  it('a server restarted on the same port has lost the stream: a clear NOT_FOUND, not a hang or a silent truncation', async () => {
    const port = await freePort();
    const first = await serveProcess(CONFIG, port);
    servers.push(first);
    const sdk = createClient(`127.0.0.1:${port}`, { backoff: { baseMs: 50, capMs: 300, maxAttempts: 30 } });
    try {
      const stream = sdk.generate({ prompt: 'x', maxTokens: 400, seed: 13 }, { idleTimeoutMs: 400 });
      const tokens: string[] = [];
      let failure: unknown;
      try {
        for await (const chunk of stream) {
          tokens.push(...chunk.tokens);
          if (tokens.length >= 60 && servers.length === 1) {
            first.kill('SIGKILL');
            await first.exit;
            servers.push(await serveProcess(CONFIG, port));
          }
        }
      } catch (error) {
        failure = error;
      }
      expect(failure).toBeInstanceOf(TokenRelayError);
      expect((failure as TokenRelayError).code).toBe(status.NOT_FOUND);
      expect((failure as TokenRelayError).details).toBe(
        `cannot resume stream ${stream.streamId} at seq ${tokens.length}: the server no longer has it (it restarted, or the retention passed)`,
      );
      expect(tokens).toEqual(expected(13, tokens.length));
      expect(tokens.length).toBeLessThan(400);
    } finally {
      sdk.close();
    }
  });
});
