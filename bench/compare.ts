/**
 * Before/after on one machine at one time: time to first token and server
 * CPU per call of this checkout's tokenrelay against another checkout's
 * (built), taking turns in blocks of 100 calls as scenario (f) does, so the
 * machine's noise hits both alike. With --throughput, instead: one unpaced
 * Generate stream of --tokens tokens on each, taking turns, as scenario (a)
 * measures it (tokens/s and server CPU per million tokens).
 *
 *   git worktree add /tmp/before <commit> && ln -s "$PWD/node_modules" /tmp/before/ && (cd /tmp/before && npm run build)
 *   npm run build && npx tsc -p tsconfig.bench.json
 *   node dist/bench/bench/compare.js /tmp/before [--calls 2000] [--reps 5]
 *   node dist/bench/bench/compare.js /tmp/before --throughput [--tokens 1000000] [--reps 10]
 *   node dist/bench/bench/compare.js /tmp/before --throughput --streams 100 --tokens 10000   # (c)
 *
 * --streams N (with --throughput) runs N concurrent streams of --tokens each
 * on one connection, as scenario (c) does; the default, 1, is scenario (a).
 * --prompt-bytes N sends the first N characters of the README as the prompt
 * instead of "bench" (the tokenizer's count of a prompt costs about 90 µs a
 * KiB), and
 * --model paced asks the bench's paced model (first token at once, then one
 * every 5 ms) for two tokens, so the first goes out before the end is known,
 * as in a long generation:
 *   node dist/bench/bench/compare.js /tmp/before --prompt-bytes 4096 --model paced
 * --store redis runs both on the redis store, against one redis-server the
 * comparison starts (each under its own key prefix) and kills at the end.
 * With --cpu-prof, both servers run under node --cpu-prof and write
 * compare-this.cpuprofile and compare-other.cpuprofile to bench/out/prof
 * (read them with profile.js); the figures then include the profiler's cost.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { closeAllClients } from './load/clients';
import { generateCommands } from './load/generate';
import { grpcOnce, measure, type TtftResult, type TtftShape } from './load/ttft';
import { wholeNumber } from './lib/options';
import { OUT_DIR, ROOT } from './lib/paths';
import { cpuSeconds } from './lib/proc';
import { startRedis } from './lib/redisServer';
import { relayConfig } from './lib/relayConfig';
import { ratioSummary, summarize } from './lib/stats';
import { nodeFlags, servingPort, startRelay, waitForLogLines } from './lib/servers';

/**
 * The bench config both builds get, less the settings older builds refuse as
 * unknown: the per-connection stream cap only matters to (i), and compare's
 * load opens one call at a time.
 */
function comparableConfig(redis?: { url: string; keyPrefix: string }): object {
  const config = relayConfig(redis ? { streams: { store: 'redis' }, redis } : {}) as { limits: Record<string, unknown> };
  const { maxStreamsPerConnection: _, ...limits } = config.limits;
  return { ...config, limits };
}

/** Starts `<checkout>/dist/cli.js serve` with the bench config; resolves with its pid, port and a stop function. */
async function startOther(
  checkout: string,
  runDir: string,
  profile: boolean,
  config: object,
): Promise<{ pid: number; address: string; stop: () => void }> {
  const cli = path.join(checkout, 'dist/cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: build that checkout first`);
  const configFile = path.join(runDir, 'other.config.json');
  const logFile = path.join(runDir, 'other.log');
  writeFileSync(configFile, JSON.stringify(config));
  const log = openSync(logFile, 'w');
  // The same node flags as this checkout's server gets from startRelay.
  const flags = nodeFlags({ logFile, profileName: profile ? 'compare-other' : undefined });
  const args = [...flags, cli, 'serve', '--host', '127.0.0.1', '--grpc-port', '0', '--http-port', '0', '--config', configFile];
  const child = spawn(process.execPath, args, { stdio: ['ignore', log, log], env: { ...process.env, TOKENRELAY_LOG_LEVEL: 'info' } });
  closeSync(log);
  const port = await servingPort(child, logFile);
  return { pid: child.pid as number, address: `127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      calls: { type: 'string', default: '2000' },
      reps: { type: 'string', default: '5' },
      throughput: { type: 'boolean', default: false },
      tokens: { type: 'string', default: '1000000' },
      streams: { type: 'string', default: '1' },
      'cpu-prof': { type: 'boolean', default: false },
      'prompt-bytes': { type: 'string' },
      model: { type: 'string', default: 'fast' },
      store: { type: 'string', default: 'memory' },
    },
  });
  const other = positionals[0];
  if (!other) throw new Error('usage: compare.js OTHER_CHECKOUT [--calls N] [--reps N] [--store memory|redis]');
  const calls = wholeNumber('--calls', values.calls, 1);
  const reps = wholeNumber('--reps', values.reps, 1);
  const streams = wholeNumber('--streams', values.streams, 1);
  const tokens = wholeNumber('--tokens', values.tokens, 1);
  const runDir = path.join(OUT_DIR, `compare-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(runDir, { recursive: true });
  // The flags are read before any server starts, so a bad one leaves none running.
  const model = values.model ?? 'fast';
  const shape: TtftShape = {
    ...(values['prompt-bytes'] === undefined ? {} : { prompt: proseOf(wholeNumber('--prompt-bytes', values['prompt-bytes'], 1)) }),
    // From a paced model, two tokens: the first goes out before the end is known.
    maxTokens: model === 'fast' ? 1 : 2,
  };
  const store = values.store;
  if (store !== 'memory' && store !== 'redis') throw new Error(`--store: must be memory or redis, got ${store}`);
  const profile = values['cpu-prof'] ?? false;
  // On the redis store both share one redis-server (under different key prefixes), used by one of them at a time.
  const redis = store === 'redis' ? await startRedis() : undefined;
  const configOf = (keyPrefix: string) => comparableConfig(redis && { url: redis.url, keyPrefix });
  const mine = await startRelay(configOf('this'), path.join(runDir, 'this.config.json'), {
    logFile: path.join(runDir, 'this.log'),
    profileName: profile ? 'compare-this' : undefined,
  }).catch(async (error: unknown) => {
    await redis?.stop();
    throw error;
  });
  const theirs = await startOther(path.resolve(other), runDir, profile, configOf('other')).catch(async (error: unknown) => {
    await mine.stop(); // the other checkout did not start: leave nothing running
    await redis?.stop();
    throw error;
  });
  if (redis) {
    // Measured only once both have reached Redis.
    await waitForLogLines(path.join(runDir, 'this.log'), '"redis connected"', 1);
    await waitForLogLines(path.join(runDir, 'other.log'), '"redis connected"', 1);
  }
  const stopAll = async () => {
    closeAllClients();
    theirs.stop();
    await mine.stop();
    await redis?.stop();
  };
  if (values.throughput) {
    try {
      await compareThroughput(mine, theirs, other, { streams, tokens }, reps);
    } finally {
      await stopAll();
    }
    return;
  }
  const figures = { thisP50: [] as number[], otherP50: [] as number[], thisCpu: [] as number[], otherCpu: [] as number[] };
  try {
    for (let rep = 0; rep < reps; rep++) {
      const before = [cpuSeconds(mine.pid), cpuSeconds(theirs.pid)];
      const result = await measure(calls, [
        ['relay', () => grpcOnce(mine.address, model, shape)],
        ['grpc', () => grpcOnce(theirs.address, model, shape)],
      ]);
      // Both served 2 × calls (warm-up and measured) in this repetition.
      figures.thisCpu.push(((cpuSeconds(mine.pid) - before[0]) / (2 * calls)) * 1e6);
      figures.otherCpu.push(((cpuSeconds(theirs.pid) - before[1]) / (2 * calls)) * 1e6);
      figures.thisP50.push((result.relay as TtftResult).p50Us);
      figures.otherP50.push((result.grpc as TtftResult).p50Us);
      process.stderr.write(
        `rep ${rep + 1}/${reps}: this p50 ${figures.thisP50[rep].toFixed(0)} µs, other p50 ${figures.otherP50[rep].toFixed(0)} µs\n`,
      );
    }
  } finally {
    await stopAll();
  }
  const line = (label: string, samples: number[]) => {
    const summary = summarize(samples);
    return `${label.padEnd(44)} median ${summary.median.toFixed(0).padStart(5)}  (min ${summary.min.toFixed(0)}, max ${summary.max.toFixed(0)})`;
  };
  const ttftRatio = ratioSummary(figures.thisP50, figures.otherP50);
  const cpuRatio = ratioSummary(figures.thisCpu, figures.otherCpu);
  process.stdout.write(
    `${[
      line('this checkout: time to first token p50, µs', figures.thisP50),
      line(`${other}: time to first token p50, µs`, figures.otherP50),
      line('this checkout: server CPU per call, µs', figures.thisCpu),
      line(`${other}: server CPU per call, µs`, figures.otherCpu),
      `ratio this / other, per repetition: TTFT ${ttftRatio.median.toFixed(2)}× (${ttftRatio.min.toFixed(2)}–${ttftRatio.max.toFixed(2)}), ` +
        `CPU per call ${cpuRatio.median.toFixed(2)}× (${cpuRatio.min.toFixed(2)}–${cpuRatio.max.toFixed(2)})`,
    ].join('\n')}\n`,
  );
}

/** The first `bytes` characters of this repository's docs (README, then the architecture note, repeated if need be): a prompt of real prose and code. */
function proseOf(bytes: number): string {
  const docs = ['README.md', 'docs/architecture.md'].map((file) => readFileSync(path.join(ROOT, file), 'utf8')).join('\n');
  return docs.repeat(Math.ceil(bytes / docs.length)).slice(0, bytes);
}

interface Served {
  pid: number;
  address: string;
}

/** Turns of unpaced Generate streams (one, or --streams at once) on each server, after one unmeasured turn each; prints medians and per-turn ratios. */
async function compareThroughput(
  mine: Served,
  theirs: Served,
  other: string,
  shape: { streams: number; tokens: number },
  reps: number,
): Promise<void> {
  const turn = async (server: Served, seed: number) => {
    const cpu = cpuSeconds(server.pid);
    const result = await generateCommands['generate.run']({
      address: server.address,
      model: 'fast',
      streams: shape.streams,
      tokensPerStream: shape.tokens,
      seed: seed * shape.streams,
    });
    if (result.broken > 0) throw new Error(`a stream broke: ${result.errors.join('; ')}`);
    return { rate: result.tokens / result.seconds, cpuPerMillion: ((cpuSeconds(server.pid) - cpu) / result.tokens) * 1e6 };
  };
  await turn(mine, 0);
  await turn(theirs, 0);
  const figures = { thisRate: [] as number[], otherRate: [] as number[], thisCpu: [] as number[], otherCpu: [] as number[] };
  for (let rep = 0; rep < reps; rep++) {
    // Alternate who goes first, so neither always runs on a machine the other just warmed or loaded.
    const order = rep % 2 === 0 ? [mine, theirs] : [theirs, mine];
    const results = new Map<Served, { rate: number; cpuPerMillion: number }>();
    for (const server of order) results.set(server, await turn(server, rep + 1));
    const [a, b] = [results.get(mine), results.get(theirs)] as [
      { rate: number; cpuPerMillion: number },
      { rate: number; cpuPerMillion: number },
    ];
    figures.thisRate.push(a.rate);
    figures.otherRate.push(b.rate);
    figures.thisCpu.push(a.cpuPerMillion);
    figures.otherCpu.push(b.cpuPerMillion);
    process.stderr.write(`rep ${rep + 1}/${reps}: this ${(a.rate / 1e6).toFixed(2)}M tokens/s, other ${(b.rate / 1e6).toFixed(2)}M\n`);
  }
  const rate = ratioSummary(figures.thisRate, figures.otherRate);
  const cpu = ratioSummary(figures.thisCpu, figures.otherCpu);
  const median = (samples: number[]) => summarize(samples).median;
  process.stdout.write(
    `${[
      `this checkout: ${(median(figures.thisRate) / 1e6).toFixed(2)}M tokens/s, server CPU ${median(figures.thisCpu).toFixed(2)} s per million tokens`,
      `${other}: ${(median(figures.otherRate) / 1e6).toFixed(2)}M tokens/s, server CPU ${median(figures.otherCpu).toFixed(2)} s per million tokens`,
      `ratio this / other, per turn: tokens/s ${rate.median.toFixed(3)}× (${rate.min.toFixed(2)}–${rate.max.toFixed(2)}), ` +
        `CPU per token ${cpu.median.toFixed(3)}× (${cpu.min.toFixed(2)}–${cpu.max.toFixed(2)})`,
    ].join('\n')}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
