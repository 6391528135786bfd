import { spawn } from 'node:child_process';

export interface RunResult {
  /** The exit code, or null if the process was killed (see `timedOut`). */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  /** Written to the child's stdin, which is then closed. Default: nothing. */
  input?: string;
  /** The child and everything it started are killed with SIGKILL after this long. Default 15000 ms. */
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs an external program to its end, never longer than `timeoutMs`; never rejects for a non-zero exit. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const { input = '', timeoutMs = 15_000, cwd, env } = options;
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout also kills what it spawned: node_modules/.bin/buf is a node
    // shim that runs the real buf binary as a child, which a kill of the shim alone would orphan.
    const child = spawn(command, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL'); // the group is already gone; make sure the child is too
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
    // A child that exits without reading its stdin must not crash the test with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** A one-paragraph description of a finished run, for assertion messages. */
export function describeRun(command: string, args: string[], result: RunResult): string {
  const status = result.timedOut ? 'timed out' : `exited with ${result.code}`;
  return `${command} ${args.join(' ')} ${status}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
}
