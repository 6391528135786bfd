/**
 * `npm run bench`: the benchmark harness. Starts tokenrelay and the
 * baselines as child processes on loopback, drives them from load-client
 * child processes, and prints one table (min / median / max over
 * repetitions, ratios to baselines measured in the same run) plus the
 * performance targets; writes it all to bench/out/results-<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Check, type Row, ScenarioContext } from './lib/context';
import { describeMachine } from './lib/machine';
import { parseOptions } from './lib/options';
import { OUT_DIR } from './lib/paths';
import { relayConfig } from './lib/relayConfig';
import { figuresTable, targetsTable } from './lib/report';
import { WorkerPool } from './lib/workers';
import { SCENARIOS } from './scenarios';

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runDir = path.join(OUT_DIR, `run-${stamp}`);
  mkdirSync(runDir, { recursive: true });
  const machine = describeMachine();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  process.stderr.write(`${command}\n${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, load ${machine.loadAverage.join(' ')}\n`);
  const startedMs = performance.now();
  const rows: Row[] = [];
  const checks: Check[] = [];
  const failures: Array<{ scenario: string; error: string }> = [];
  const pool = new WorkerPool();
  const durations: Array<{ scenario: string; seconds: number; loadAverage: number }> = [];
  await pool.start(['client', 'producer', 'consumer']);
  for (const scenario of SCENARIOS.filter((candidate) => options.only.includes(candidate.id))) {
    process.stderr.write(`(${scenario.id}) ${scenario.title}\n`);
    const context = new ScenarioContext(scenario.id, options, runDir, stamp, pool);
    const scenarioStartMs = performance.now();
    let failed = false;
    try {
      await scenario.run(context);
    } catch (error) {
      failed = true;
      const message = error instanceof Error ? error.message : String(error);
      failures.push({ scenario: scenario.id, error: message });
      process.stderr.write(`  (${scenario.id}) FAILED: ${message}\n`);
    } finally {
      await context.cleanup(failed);
    }
    rows.push(...context.rows);
    checks.push(...context.checks);
    const scenarioSeconds = (performance.now() - scenarioStartMs) / 1000;
    // Other work on this machine skews every figure: keep how busy it was beside them.
    const loadAverage = os.loadavg()[0];
    durations.push({ scenario: scenario.id, seconds: scenarioSeconds, loadAverage });
    process.stderr.write(`  (${scenario.id}) ${scenarioSeconds.toFixed(1)} s, load average ${loadAverage.toFixed(2)}\n`);
  }
  pool.close();
  const seconds = (performance.now() - startedMs) / 1000;
  const text = [
    figuresTable(rows),
    '',
    checks.length > 0 ? targetsTable(checks) : '(no targets checked)',
    ...(options.quick ? ['--quick: smaller scenarios and fewer repetitions than the targets assume; a smoke check, not a verdict.'] : []),
    ...failures.map((failure) => `\n(${failure.scenario}) FAILED: ${failure.error}`),
    '',
    `${seconds.toFixed(0)} s; 1-minute load average at the end of each scenario: ` +
      durations.map((entry) => `${entry.scenario} ${entry.loadAverage.toFixed(1)}`).join(', ') +
      ` (${machine.cores} cores); server logs and configs in ${path.relative(process.cwd(), runDir)}`,
  ].join('\n');
  process.stdout.write(`\n${text}\n`);
  const file = path.join(OUT_DIR, `results-${stamp}.json`);
  const results = { command, options, machine, seconds, durations, relayConfig: relayConfig(), rows, checks, failures };
  writeFileSync(file, JSON.stringify(results, null, 2));
  process.stdout.write(`results: ${path.relative(process.cwd(), file)}\n`);
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
