/**
 * Before/after on one machine at one time: time to first token and server
 * CPU per call of this checkout's tokenrelay against another checkout's
 * (built), taking turns in blocks of 100 calls as scenario (f) does, so the
 * machine's noise hits both alike.
 *
 *   git worktree add /tmp/before <commit> && ln -s "$PWD/node_modules" /tmp/before/ && (cd /tmp/before && npm run build)
 *   npm run build && npx tsc -p tsconfig.bench.json
 *   node dist/bench/bench/compare.js /tmp/before [--calls 2000] [--reps 5]
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { closeAllClients } from './load/clients';
import { grpcOnce, measure, type TtftResult } from './load/ttft';
import { OUT_DIR } from './lib/paths';
import { cpuSeconds } from './lib/proc';
import { relayConfig } from './lib/relayConfig';
import { summarize } from './lib/stats';
import { servingPort, startRelay } from './lib/servers';

/** Starts `<checkout>/dist/cli.js serve` with the bench config; resolves with its pid, port and a stop function. */
async function startOther(checkout: string, runDir: string): Promise<{ pid: number; address: string; stop: () => void }> {
  const cli = path.join(checkout, 'dist/cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: build that checkout first`);
  const configFile = path.join(runDir, 'other.config.json');
  const logFile = path.join(runDir, 'other.log');
  writeFileSync(configFile, JSON.stringify(relayConfig()));
  const log = openSync(logFile, 'w');
  const args = [cli, 'serve', '--host', '127.0.0.1', '--grpc-port', '0', '--http-port', '0', '--config', configFile];
  const child = spawn(process.execPath, args, { stdio: ['ignore', log, log], env: { ...process.env, TOKENRELAY_LOG_LEVEL: 'info' } });
  closeSync(log);
  const port = await servingPort(child, logFile);
  return { pid: child.pid as number, address: `127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { calls: { type: 'string', default: '2000' }, reps: { type: 'string', default: '5' } },
  });
  const other = positionals[0];
  if (!other) throw new Error('usage: compare.js OTHER_CHECKOUT [--calls N] [--reps N]');
  const calls = Number(values.calls);
  const reps = Number(values.reps);
  const runDir = path.join(OUT_DIR, `compare-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(runDir, { recursive: true });
  const mine = await startRelay(relayConfig(), path.join(runDir, 'this.config.json'), { logFile: path.join(runDir, 'this.log') });
  const theirs = await startOther(path.resolve(other), runDir);
  const figures = { thisP50: [] as number[], otherP50: [] as number[], thisCpu: [] as number[], otherCpu: [] as number[] };
  try {
    for (let rep = 0; rep < reps; rep++) {
      const before = [cpuSeconds(mine.pid), cpuSeconds(theirs.pid)];
      const result = await measure(calls, [
        ['relay', () => grpcOnce(mine.address, 'fast')],
        ['grpc', () => grpcOnce(theirs.address, 'fast')],
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
    closeAllClients();
    theirs.stop();
    await mine.stop();
  }
  const line = (label: string, samples: number[]) => {
    const summary = summarize(samples);
    return `${label.padEnd(44)} median ${summary.median.toFixed(0).padStart(5)}  (min ${summary.min.toFixed(0)}, max ${summary.max.toFixed(0)})`;
  };
  const ratios = (a: number[], b: number[]) => summarize(a.map((value, index) => value / b[index]));
  const ttftRatio = ratios(figures.thisP50, figures.otherP50);
  const cpuRatio = ratios(figures.thisCpu, figures.otherCpu);
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

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
