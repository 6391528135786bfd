/**
 * The top frames of a V8 CPU profile (from `npm run bench -- --cpu-prof`):
 * self time by layer (tokenrelay's own code, grpc-js, Node and native, the
 * garbage collector, startup), self time by function, total (inclusive) time
 * by function, and self time by file. Percentages are of the busy time (samples that were not idle), so
 * a server that waited for its clients half the run still reads sensibly:
 *   node dist/bench/bench/profile.js bench/out/prof/<name>.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './lib/paths';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
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

function top(totals: Map<string, number>, busy: number, count: number): string {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, micros]) => `${((micros / busy) * 100).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(6)} ms  ${name}`)
    .join('\n');
}

/** Which layer of the stack a frame belongs to, for the summary. */
function layerOf(functionName: string, where: string): string {
  // A profile of another checkout (a before/after comparison) has paths like ../other/dist/...
  const location = !where.includes('node_modules') && where.includes('dist/') ? where.slice(where.indexOf('dist/')) : where;
  if (/cjs\/loader|modules\/|bootstrap|gpt-tokenizer|protobufjs/.test(location)) return 'startup (module loading, tokenizer tables)';
  if (['wrapSafe', 'compileFunction', 'readFileUtf8', 'internalModuleStat'].includes(functionName))
    return 'startup (module loading, tokenizer tables)';
  if (functionName === '(garbage collector)') return 'garbage collector';
  if (location.startsWith('@grpc/')) return 'grpc-js';
  if (location.startsWith('dist/gen/') || location.startsWith('@bufbuild/')) return 'generated protobuf code';
  if (location.startsWith('dist/bench/bench/')) return 'baseline server code';
  if (location.startsWith('dist/')) return "tokenrelay's own code";
  if (location.startsWith('node:') || location === '(native)') return 'Node internals and native (http2, streams, buffers, timers)';
  return `other libraries (${location.split('/')[0]})`;
}

function main(): void {
  const [file, flag, value] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile.js FILE.cpuprofile [--top N]');
  const count = flag === '--top' ? Number(value) : 25;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const nameOf = (node: ProfileNode) => {
    const frame = node.callFrame;
    return `${frame.functionName || '(anonymous)'}  ${where(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const byFile = new Map<string, number>();
  const byLayer = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  profile.samples.forEach((id, index) => {
    const micros = profile.timeDeltas[index] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    if (node.callFrame.functionName === '(idle)') {
      idle += micros;
      return;
    }
    busy += micros;
    const name = nameOf(node);
    self.set(name, (self.get(name) ?? 0) + micros);
    const location = where(node.callFrame.url);
    byFile.set(location, (byFile.get(location) ?? 0) + micros);
    const layer = layerOf(node.callFrame.functionName, location);
    byLayer.set(layer, (byLayer.get(layer) ?? 0) + micros);
    // Inclusive: every distinct function on the stack gets the sample once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at);
      if (!frame || frame.callFrame.functionName === '(root)') continue;
      const frameName = nameOf(frame);
      if (seen.has(frameName)) continue;
      seen.add(frameName);
      total.set(frameName, (total.get(frameName) ?? 0) + micros);
    }
  });
  process.stdout.write(
    `${file}: ${(busy / 1000).toFixed(0)} ms busy, ${(idle / 1000).toFixed(0)} ms idle; percentages are of the busy time\n\n` +
      `self time by layer:\n${top(byLayer, busy, count)}\n\n` +
      `self time by function:\n${top(self, busy, count)}\n\n` +
      `total time by function (self + callees):\n${top(total, busy, count)}\n\n` +
      `self time by file:\n${top(byFile, busy, count)}\n`,
  );
}

main();
