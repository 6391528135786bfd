import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './process';
import { run } from './run';

/**
 * A real redis-server (Debian's, installed by .ci/run) on a free loopback
 * port, started by the test that uses it and killed at its end: no test
 * depends on a fixed port or on a Redis someone else runs.
 */
export class RedisServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly extraArgs: string[],
  ) {}

  /** Starts a server on a free port (or the one given) and waits until it accepts connections. */
  static async start(options: { port?: number; args?: string[] } = {}): Promise<RedisServer> {
    if (!existsSync('/usr/bin/redis-server')) throw new Error('redis-server is missing: apt-get install redis-server (.ci/run does)');
    const server = new RedisServer(
      options.port ?? (await freePort()),
      mkdtempSync(path.join(tmpdir(), 'tokenrelay-redis-')),
      options.args ?? [],
    );
    await server.spawn();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Sends a signal: SIGKILL to lose it at once, SIGSTOP/SIGCONT to freeze it. */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Kills it (SIGKILL) and waits for the process to be gone. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
    this.child = undefined;
  }

  /** Starts it again on the same port, empty (it keeps nothing on disk). */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  /** Runs redis-cli against it; resolves with its output. */
  async cli(...args: string[]): Promise<string> {
    const result = await run('redis-cli', ['-p', String(this.port), ...args], { timeoutMs: 10_000 });
    if (result.code !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${result.stderr || result.stdout}`);
    return result.stdout.trim();
  }

  /** Kills it and removes its directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async spawn(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      ...this.extraArgs,
    ];
    const child = spawn('/usr/bin/redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`redis-server on port ${this.port} did not start:\n${output}`)), 10_000);
      child.stdout?.on('data', (data: Buffer) => {
        output += data.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr?.on('data', (data: Buffer) => (output += data.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server on port ${this.port} exited with ${code}:\n${output}`));
      });
    });
    child.stdout?.resume();
  }
}

/** A three-node Redis Cluster (no replicas) on free ports, for the claim that the store runs unchanged on one. */
export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  static async start(size = 3): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    for (let index = 0; index < size; index++) {
      nodes.push(await RedisServer.start({ args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', '5000'] }));
    }
    const cluster = new RedisCluster(nodes);
    const create = await run(
      'redis-cli',
      ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeoutMs: 30_000 },
    );
    if (create.code !== 0) throw new Error(`redis-cli --cluster create failed:\n${create.stdout}\n${create.stderr}`);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const states = await Promise.all(nodes.map((node) => node.cli('cluster', 'info')));
      if (states.every((info) => info.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error(`the cluster never became ok:\n${states.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return cluster;
  }

  /** The seed URL a client starts from. */
  get url(): string {
    return this.nodes[0].url;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}
