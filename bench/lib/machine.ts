import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  grpcJs: string;
  platform: string;
  /** Load average when the run started: other work on the machine skews figures. */
  loadAverage: number[];
}

function lscpuField(name: string): string | undefined {
  try {
    const text = execFileSync('lscpu', { encoding: 'utf8' });
    return new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(text)?.[1].trim();
  } catch {
    return undefined;
  }
}

export function describeMachine(): Machine {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const grpcJs = (require('@grpc/grpc-js/package.json') as { version: string }).version;
  return {
    cpu: lscpuField('Model name') ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    grpcJs,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: os.loadavg().map((value) => Math.round(value * 100) / 100),
  };
}
