import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The repository root: the nearest directory above this file whose package.json is tokenrelay's. */
function findRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'tokenrelay') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no tokenrelay package.json above ${__dirname}`);
    dir = parent;
  }
}

export const ROOT = findRoot();
/** The server as `npm run build` makes it. */
export const CLI = path.join(ROOT, 'dist/cli.js');
/** Results, server logs and CPU profiles (git-ignored). */
export const OUT_DIR = path.join(ROOT, 'bench/out');
export const PROFILE_DIR = path.join(OUT_DIR, 'prof');
/** Compiled bench scripts sit beside this file's compiled form (dist/bench/bench/lib). */
export const BENCH_JS = path.join(__dirname, '..');
