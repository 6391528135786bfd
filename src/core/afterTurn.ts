/**
 * Work the current turn's answer does not need, run once that answer is on
 * its way: bookkeeping that would otherwise sit between a call's first token
 * and the wire (metric observations, a request's fingerprint).
 *
 * Node's HTTP/2 sends what a turn wrote from a native immediate, and native
 * immediates run before the JavaScript ones queued in the same turn, so a job
 * queued here never delays those bytes. Every job of a turn shares one
 * setImmediate, in the order they were queued. A job that throws is our bug:
 * it becomes a process warning (never an uncaught exception), and the jobs
 * after it still run.
 */
export function afterTurn(job: () => void): void {
  jobs.push(job);
  if (scheduled) return;
  scheduled = true;
  setImmediate(runJobs);
}

let jobs: Array<() => void> = [];
let scheduled = false;

function runJobs(): void {
  scheduled = false;
  const batch = jobs;
  jobs = [];
  for (const job of batch) {
    try {
      job();
    } catch (error) {
      process.emitWarning(`a deferred job failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }
}
