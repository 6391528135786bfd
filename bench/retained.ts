/**
 * The heap that finished streams hold while they are retained (for late
 * readers and identical retries), for a given prompt size: a server in this
 * process, from this checkout's build or another's, serves `--streams`
 * one-token Generates with distinct `--prompt-bytes` prompts, and the heap
 * after a full GC is compared with the heap before them.
 *
 *   npm run build && npx tsc -p tsconfig.bench.json
 *   node --expose-gc dist/bench/bench/retained.js [OTHER_CHECKOUT] [--streams 1000] [--prompt-bytes 32768]
 *
 * With OTHER_CHECKOUT (built), its dist/ serves instead of this one's.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import pino from 'pino';
import { DataServiceClient } from '../src/gen/tokenrelay/v1/data_service';
import type { parseConfig as ParseConfig } from '../src/core/config';
import type { TokenRelayServer as Server } from '../src/server/server';
import { wholeNumber } from './lib/options';
import { ROOT } from './lib/paths';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { streams: { type: 'string', default: '1000' }, 'prompt-bytes': { type: 'string', default: '32768' } },
  });
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  const streams = wholeNumber('--streams', values.streams, 1);
  const promptBytes = wholeNumber('--prompt-bytes', values['prompt-bytes'], 16);
  const dist = path.join(positionals[0] ? path.resolve(positionals[0]) : ROOT, 'dist');
  const { TokenRelayServer } = require(path.join(dist, 'server/server.js')) as { TokenRelayServer: typeof Server };
  const { parseConfig } = require(path.join(dist, 'core/config/index.js')) as { parseConfig: typeof ParseConfig };
  const config = parseConfig({
    models: [{ name: 'fast', backend: 'sim', ttftMs: 0, interTokenMs: 0 }],
    defaultModel: 'fast',
    streams: { maxRetainedStreams: Math.max(1000, streams + 100) },
    deadlines: { '*': { defaultMs: 0, maxMs: 0 } },
  });
  const server = await TokenRelayServer.start({
    config,
    logger: pino({ level: 'silent' }),
    host: '127.0.0.1',
    grpcPort: 0,
    httpPort: null,
  });
  const client = new DataServiceClient(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
  const filler = 'x'.repeat(promptBytes - 8);
  const generate = (index: number) =>
    new Promise<void>((resolve, reject) => {
      const call = client.generate({
        model: 'fast',
        prompt: `${filler}${String(index).padStart(8, '0')}`,
        messages: [],
        maxTokens: 1,
        temperature: 1,
        topP: 1,
        stop: [],
        seed: index,
        streamId: `retained-${index}`,
        resumable: false,
      });
      call.on('data', () => undefined);
      call.on('error', reject);
      call.on('end', () => resolve());
    });
  // Warm-up calls (their streams retained too), so what is measured is what each further stream adds.
  for (let index = 0; index < 50; index++) await generate(10_000_000 + index);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let index = 0; index < streams; index++) await generate(index);
  gc();
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  process.stdout.write(
    `${dist}: ${streams} more retained streams of ${promptBytes}-byte prompts: heap +${(grown / 1e6).toFixed(1)} MB, ` +
      `${(grown / streams / 1024).toFixed(1)} KiB per stream\n`,
  );
  client.close();
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
