import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { DataServiceClient } from '../../src/gen/tokenrelay/v1/data_service';
import { serveProcess } from '../helpers/process';
import { RedisServer } from '../helpers/redis';
import { collect, request, waitFor } from '../helpers/server';

/**
 * On a shared store every resumable follower watches the replica's draining
 * signal (to be told UNAVAILABLE and resume elsewhere on a deploy): one
 * listener each, removed when its stream ends. Past ten at once, Node warned
 * of a possible memory leak on every busy replica. The relay runs as a
 * process here, its warnings redirected to a file.
 */
it('40 resumable followers at once on the redis store: every token, and no MaxListenersExceededWarning', async () => {
  const redis = await RedisServer.start();
  const lines: string[] = [];
  const warnings = path.join(mkdtempSync(path.join(tmpdir(), 'tokenrelay-warnings-')), 'warnings.txt');
  const relay = await serveProcess(
    {
      models: [{ name: 'paced', backend: 'sim', ttftMs: 0, interTokenMs: 20 }],
      streams: { store: 'redis' },
      redis: { url: redis.url },
    },
    0,
    { env: { NODE_OPTIONS: `--redirect-warnings=${warnings}` }, lines },
  );
  const client = new DataServiceClient(`127.0.0.1:${relay.grpcPort}`, credentials.createInsecure());
  try {
    await waitFor(() => lines.some((line) => line.includes('"redis connected"')), 10_000, 'the relay to reach redis');
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        collect(client.generate(request({ model: 'paced', prompt: 'x', maxTokens: 10, seed: index, resumable: true }))),
      ),
    );
    for (const result of results) {
      expect(result.error).toBeUndefined();
      expect(result.tokens).toHaveLength(10);
    }
    const written = existsSync(warnings) ? readFileSync(warnings, 'utf8') : '';
    expect(written).not.toMatch(/MaxListenersExceededWarning/);
  } finally {
    client.close();
    relay.kill('SIGKILL');
    await relay.exit;
    await redis.stop();
  }
}, 30_000);
