/**
 * The top frames of a V8 CPU profile (from `npm run bench -- --cpu-prof`), by
 * self time, and the same summed by file:
 *   node dist/bench/bench/profile.js bench/out/prof/<name>.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './lib/paths';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  const file = url.replace(/^file:\/\//, '');
  if (file === '') return '(native)';
  const modules = file.lastIndexOf('node_modules/');
  return modules >= 0 ? file.slice(modules + 'node_modules/'.length) : path.relative(ROOT, file);
}

function top(totals: Map<string, number>, all: number, count: number): string {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, micros]) => `${((micros / all) * 100).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(6)} ms  ${name}`)
    .join('\n');
}

function main(): void {
  const [file, flag, value] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile.js FILE.cpuprofile [--top N]');
  const count = flag === '--top' ? Number(value) : 25;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFrame = new Map<string, number>();
  const byFile = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, index) => {
    const micros = profile.timeDeltas[index] ?? 0;
    const frame = byId.get(id)?.callFrame;
    if (!frame) return;
    all += micros;
    const location = where(frame.url);
    const name = `${frame.functionName || '(anonymous)'}  ${location}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    byFrame.set(name, (byFrame.get(name) ?? 0) + micros);
    byFile.set(location, (byFile.get(location) ?? 0) + micros);
  });
  process.stdout.write(`${file}: ${(all / 1000).toFixed(0)} ms sampled\n\nself time by function:\n${top(byFrame, all, count)}\n`);
  process.stdout.write(`\nself time by file:\n${top(byFile, all, count)}\n`);
}

main();
