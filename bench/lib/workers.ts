import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { BENCH_JS } from './paths';
import { cpuSeconds } from './proc';

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** A load client in its own process (bench/load/worker.ts), driven by commands over IPC. */
export class LoadWorker {
  readonly pid: number;
  private readonly child: ChildProcess;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor(readonly name: string) {
    this.child = fork(path.join(BENCH_JS, 'load/worker.js'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Structured clone, not JSON: Infinity (a token that never arrived) must survive the trip.
      serialization: 'advanced',
    });
    this.pid = this.child.pid as number;
    this.child.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new Error(`load worker ${name}: ${reply.error}`));
    });
    this.child.on('exit', (code, signal) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`load worker ${name} exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  /** Runs a command (see bench/load/worker.ts) and resolves with its result. */
  call<Result>(command: string, params: object = {}): Promise<Result> {
    const id = this.nextId++;
    return new Promise<Result>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, command, params });
    });
  }

  cpuSeconds(): number {
    return cpuSeconds(this.pid);
  }

  close(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * The run's load workers by role ('client', 'producer', 'consumer'), kept
 * from scenario to scenario (a process start costs about a second of CPU on
 * this machine); between scenarios their clients are closed, and after a
 * failed scenario they are replaced.
 */
export class WorkerPool {
  private readonly workers = new Map<string, LoadWorker>();

  get(role: string): LoadWorker {
    let worker = this.workers.get(role);
    if (!worker) {
      worker = new LoadWorker(role);
      this.workers.set(role, worker);
    }
    return worker;
  }

  /** Starts the workers for these roles now, side by side, rather than one by one when first needed. */
  async start(roles: string[]): Promise<void> {
    await Promise.all(roles.map((role) => this.get(role).call('clients.closeAll')));
  }

  /** Between scenarios: every worker closes its connections. */
  async reset(): Promise<void> {
    await Promise.all([...this.workers.values()].map((worker) => worker.call('clients.closeAll')));
  }

  /** After a failure, or at the end: the workers go; get() starts new ones. */
  close(): void {
    for (const worker of this.workers.values()) worker.close();
    this.workers.clear();
  }
}
