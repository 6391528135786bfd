#!/usr/bin/env node
// `npm start` builds only when dist/ is older than what it is built from, so
// a second start is as fast as `node dist/cli.js serve`. dist/gen/descriptor.binpb
// is the build's last step: when it exists and is newer than every source, the
// build is complete and current.
const { execSync } = require('node:child_process');
const { readdirSync, statSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const built = path.join(root, 'dist/gen/descriptor.binpb');
const sources = ['src', 'proto', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'buf.yaml', 'buf.gen.yaml'];

/** The newest modification time under a path, skipping src/gen (the build writes it). */
function newest(file) {
  if (path.relative(root, file) === path.join('src', 'gen')) return 0;
  const stats = statSync(file, { throwIfNoEntry: false });
  if (!stats) return 0;
  if (!stats.isDirectory()) return stats.mtimeMs;
  return Math.max(0, ...readdirSync(file).map((entry) => newest(path.join(file, entry))));
}

const builtAt = statSync(built, { throwIfNoEntry: false })?.mtimeMs ?? 0;
const changedAt = Math.max(...sources.map((source) => newest(path.join(root, source))));
if (builtAt > changedAt) process.exit(0);
execSync('npm run build', { cwd: root, stdio: 'inherit' });
