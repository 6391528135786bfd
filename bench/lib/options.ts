import { parseArgs } from 'node:util';

export const SCENARIO_IDS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

export interface RunOptions {
  /** Smaller scenarios and fewer repetitions: a smoke check in under a minute. */
  quick: boolean;
  only: ScenarioId[];
  /** Repetitions per figure; undefined means each scenario's own default. */
  reps?: number;
  /** Start servers with --cpu-prof (profiles in bench/out/prof); figures then include the profiler's cost. */
  cpuProf: boolean;
  /** Skip the baseline servers (faster reruns while optimising; no ratios). */
  baselines: boolean;
}

export const USAGE = `npm run bench -- [--quick] [--only a,c] [--reps N] [--cpu-prof] [--no-baselines]

  --quick         smaller scenarios, fewer repetitions (under a minute)
  --only LIST     scenarios to run, comma-separated, from ${SCENARIO_IDS.join(',')} (default all)
  --reps N        repetitions per figure (default per scenario: 3 to 5, fewer with --quick)
  --cpu-prof      start every server with node --cpu-prof; profiles go to bench/out/prof
  --no-baselines  skip the plain grpc-js and SSE baselines (no ratios)

Without the build step: node dist/bench/bench/run.js [flags] (after npm run build && npx tsc -p tsconfig.bench.json).
`;

export function parseOptions(argv: string[]): RunOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      reps: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'no-baselines': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const only = (values.only ?? SCENARIO_IDS.join(','))
    .split(',')
    .map((id) => id.trim().toLowerCase())
    .filter(Boolean);
  for (const id of only) {
    if (!(SCENARIO_IDS as readonly string[]).includes(id)) throw new Error(`--only: unknown scenario ${JSON.stringify(id)}\n\n${USAGE}`);
  }
  const reps = values.reps === undefined ? undefined : wholeNumber('--reps', values.reps, 1);
  return {
    quick: values.quick ?? false,
    only: only as ScenarioId[],
    reps,
    cpuProf: values['cpu-prof'] ?? false,
    baselines: !values['no-baselines'],
  };
}

/** A flag's value as a whole number of at least `min`; anything else is an error naming the flag and what it got. */
export function wholeNumber(flag: string, text: string, min: number): number {
  const value = Number(text);
  if (!(Number.isInteger(value) && value >= min)) throw new Error(`${flag}: must be a whole number >= ${min}, got ${text}`);
  return value;
}
