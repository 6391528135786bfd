import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BENCH_JS, CLI, PROFILE_DIR } from './paths';
import type { MemorySample, ProbeReply } from './probe';
import { cpuSeconds } from './proc';
import { sleep } from './stats';

export type ServerKind = 'relay' | 'grpc' | 'sse' | 'http2';

/** The baseline servers in bench/baselines/, by kind. */
const BASELINE_SCRIPTS = { grpc: 'grpcServer.js', sse: 'sseServer.js', http2: 'http2Forwarder.js' } as const;

/** A server under test, running in its own process. */
export interface ServerChild {
  kind: ServerKind;
  pid: number;
  /** host:port of the gRPC port (relay, grpc) or the HTTP port (sse). */
  address: string;
  port: number;
  /** process.memoryUsage() of the server, after a full GC when gc is set. */
  memory(gc: boolean): Promise<MemorySample>;
  cpuSeconds(): number;
  /** SIGTERM, then SIGKILL if it has not exited in 10 s (a CPU profile is written on a clean exit). */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Where the server's stdout and stderr go (truncated); one file per server. */
  logFile: string;
  /** Start node with --cpu-prof, writing <profileName>.cpuprofile to bench/out/prof. */
  profileName?: string;
}

/**
 * Node's flags for a server child: --expose-gc (for the memory probe),
 * --cpu-prof when a profile is asked for, and whatever BENCH_NODE_FLAGS
 * holds (space-separated, e.g. "--trace-gc"; node refuses some of these in
 * NODE_OPTIONS). That is for diagnosis: figures measured with extra flags
 * are not comparable with a plain run.
 */
export function nodeFlags(options: StartOptions): string[] {
  const flags = ['--expose-gc', ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '')];
  if (options.profileName) {
    mkdirSync(PROFILE_DIR, { recursive: true });
    flags.push('--cpu-prof', '--cpu-prof-dir', PROFILE_DIR, '--cpu-prof-name', `${options.profileName}.cpuprofile`);
  }
  return flags;
}

function spawnChild(
  script: string,
  args: string[],
  options: StartOptions,
  env: NodeJS.ProcessEnv = process.env,
): { child: ChildProcess; exited: Promise<void> } {
  const log = openSync(options.logFile, 'w');
  const child = fork(script, args, { execArgv: nodeFlags(options), stdio: ['ignore', log, log, 'ipc'], env });
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, exited };
}

function wrap(kind: ServerKind, child: ChildProcess, exited: Promise<void>, port: number): ServerChild {
  let nextId = 0;
  const pending = new Map<number, (reply: ProbeReply) => void>();
  child.on('message', (message: ProbeReply) => {
    if (message?.type === 'probe') pending.get(message.id)?.(message);
  });
  const pid = child.pid as number;
  return {
    kind,
    pid,
    port,
    address: `127.0.0.1:${port}`,
    memory(gc) {
      const id = nextId++;
      return new Promise<MemorySample>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${kind} server did not answer a memory probe in 30 s`)), 30_000);
        pending.set(id, (reply) => {
          clearTimeout(timer);
          pending.delete(id);
          resolve(reply);
        });
        child.send({ type: 'probe', id, gc });
      });
    },
    cpuSeconds: () => cpuSeconds(pid),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
      if (killed) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Starts `tokenrelay serve` (dist/cli.js, through serverHost for the memory probe) with the config. */
export async function startRelay(
  config: object,
  configFile: string,
  options: StartOptions,
  extraArgs: string[] = [],
): Promise<ServerChild> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build first (npm run bench does it)`);
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const args = ['serve', '--host', '127.0.0.1', '--grpc-port', '0', '--http-port', '0', '--config', configFile, ...extraArgs];
  // The harness reads the port from the startup line, and the per-call info line is part of what is measured.
  const env = { ...process.env, TOKENRELAY_LOG_LEVEL: 'info' };
  const { child, exited } = spawnChild(path.join(BENCH_JS, 'lib/serverHost.js'), args, options, env);
  return wrap('relay', child, exited, await servingPort(child, options.logFile));
}

/** Waits until a server's log has `count` lines containing `text` (every worker up, Redis connected), at most 20 s. */
export async function waitForLogLines(logFile: string, text: string, count: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (
    readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((line) => line.includes(text)).length < count
  ) {
    if (Date.now() > deadline) throw new Error(`tokenrelay did not log ${count} × ${JSON.stringify(text)} in 20 s; see ${logFile}`);
    await sleep(20);
  }
}

/**
 * The gRPC port from a tokenrelay server's "tokenrelay serving" log line,
 * once it is written; the child is killed if it has not started in 20 s.
 */
export async function servingPort(child: ChildProcess, logFile: string): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tokenrelay exited with ${child.exitCode}; see ${logFile}`);
    const line = readFileSync(logFile, 'utf8')
      .split('\n')
      .find((text) => text.includes('"tokenrelay serving"'));
    if (line) return (JSON.parse(line) as { grpcPort: number }).grpcPort;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`tokenrelay did not start in 20 s; see ${logFile}`);
    }
    await sleep(20);
  }
}

/** Starts one of the baselines in bench/baselines/. */
export async function startBaseline(kind: keyof typeof BASELINE_SCRIPTS, options: StartOptions): Promise<ServerChild> {
  const script = path.join(BENCH_JS, 'baselines', BASELINE_SCRIPTS[kind]);
  const { child, exited } = spawnChild(script, [], options);
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message?.type === 'ready') resolve(message.port as number);
    });
    child.once('exit', (code) => reject(new Error(`${kind} baseline exited with ${code}; see ${options.logFile}`)));
  });
  return wrap(kind, child, exited, port);
}
