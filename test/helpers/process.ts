import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const CLI = path.join(__dirname, '../../dist/cli.js');

/** A `tokenrelay serve` running as a real child process. */
export interface ServerProcess {
  child: ChildProcess;
  grpcPort: number;
  httpPort: number;
  /** The exit code (null if killed by a signal). */
  exit: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/** A port free right now on 127.0.0.1, for a server that must come back on the same port. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface ServeOptions {
  /** Extra arguments to serve (e.g. --workers 2). */
  args?: string[];
  /** Extra environment variables. */
  env?: NodeJS.ProcessEnv;
  /** The HTTP port; default 0 (a free one). */
  httpPort?: number;
  /** Every log line the process writes, as it writes it. */
  lines?: string[];
}

/** Starts `node dist/cli.js serve` with the config and reads its ports from the startup log line. */
export async function serveProcess(config: object, grpcPort = 0, options: ServeOptions = {}): Promise<ServerProcess> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm test does it first)`);
  const dir = mkdtempSync(path.join(tmpdir(), 'tokenrelay-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config));
  const args = [
    CLI,
    'serve',
    '--host',
    '127.0.0.1',
    '--grpc-port',
    String(grpcPort),
    '--http-port',
    String(options.httpPort ?? 0),
    '--config',
    file,
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...options.env } });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started = await new Promise<{ grpcPort: number; httpPort: number }>((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (data: Buffer) => {
      buffered += data.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        options.lines?.push(line);
        if (line.includes('"tokenrelay serving"')) resolve(JSON.parse(line));
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited early with ${code}`)));
  });
  return { child, ...started, exit, kill: (signal = 'SIGKILL') => void child.kill(signal) };
}
