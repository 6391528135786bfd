import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** Most workers `--workers` takes. */
export const MAX_WORKERS = 64;

/** Fewest ms between two restarts of crashed workers, so a worker that crashes at start cannot spin the machine. */
const RESTART_EVERY_MS = 1000;

/**
 * `tokenrelay serve --workers N`: this (primary) process forks N workers that
 * each run the whole server on the same ports (Node's cluster module shares
 * the listening sockets; grpc-js and the HTTP port both work under it), so a
 * machine's cores all serve. The workers share their streams through the
 * redis store, which is why more than one requires it: with the memory
 * store, a resume that lands on another worker would find nothing.
 *
 * The primary serves nothing itself. It forwards SIGHUP (certificate reload),
 * SIGTERM and SIGINT to every
 * worker (each drains as a single process does) and exits when they all
 * have; a worker that dies otherwise is replaced.
 */
export function runPrimary(workers: number, logger: Logger): void {
  let stopping = false;
  let lastRestartMs = 0;
  const fork = () => cluster.fork();
  cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        logger.info('every worker stopped');
        logger.flush();
        process.exit(0);
      }
      return;
    }
    logger.error({ worker: worker.id, pid: worker.process.pid, code, signal }, 'worker died; starting another');
    const waitMs = Math.max(0, lastRestartMs + RESTART_EVERY_MS - Date.now());
    lastRestartMs = Date.now() + waitMs;
    setTimeout(fork, waitMs);
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, workers: Object.keys(cluster.workers ?? {}).length }, 'shutting down the workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // Certificates are re-read by each worker, which holds its own ports' contexts.
  process.on('SIGHUP', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
  });
  logger.info({ workers, pid: process.pid }, 'starting workers');
  logger.flush();
  for (let index = 0; index < workers; index++) fork();
}

/** Whether this process is a worker forked by runPrimary. */
export function isWorker(): boolean {
  return cluster.isWorker;
}

/** This worker's number (1, 2, ...), for its log lines; undefined outside a cluster. */
export function workerId(): number | undefined {
  return cluster.worker?.id;
}
