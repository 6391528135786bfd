import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { readmeSdkExample } from '../helpers/readme';
import { describeRun, run } from '../helpers/run';
import { startTestServer, type TestServer } from '../helpers/server';

// The SDK as another project gets it, following the README: `npm pack` in
// the clone, `npm install` of the tarball in a scratch project (no build on
// install), then the README's example, type-checked against the installed
// package's own types and run by plain node in that project.
//
// The scratch install is offline: its lockfile is the tarball plus this
// repository's locked production dependencies, which `npm ci` here already
// put in npm's cache, so the test needs no registry.

const ROOT = path.join(__dirname, '../..');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

let scratch: string;
let t: TestServer;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'tokenrelay-sdk-'));
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function ok(command: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<string> {
  const result = await run(command, args, { cwd, timeoutMs });
  if (result.code !== 0) throw new Error(describeRun(command, args, result));
  return result.stdout;
}

/** package.json and package-lock.json for a project that depends on the tarball alone. */
function scratchProject(tarball: string): void {
  const own = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  const resolved = `file:${tarball}`;
  const integrity = `sha512-${createHash('sha512')
    .update(readFileSync(path.join(scratch, tarball)))
    .digest('base64')}`;
  const packages: Record<string, unknown> = {
    '': { name: 'scratch', dependencies: { tokenrelay: resolved } },
    'node_modules/tokenrelay': {
      version: own.version,
      resolved,
      integrity,
      license: own.license,
      dependencies: own.dependencies,
      bin: own.bin,
      engines: own.engines,
    },
  };
  for (const [where, entry] of Object.entries(lock.packages as Record<string, { dev?: boolean }>)) {
    if (where.startsWith('node_modules/') && !entry.dev) packages[where] = entry;
  }
  const manifest = { name: 'scratch', private: true, dependencies: { tokenrelay: resolved } };
  writeFileSync(path.join(scratch, 'package.json'), JSON.stringify(manifest, null, 2));
  writeFileSync(path.join(scratch, 'package-lock.json'), JSON.stringify({ name: 'scratch', lockfileVersion: 3, requires: true, packages }));
}

it("npm pack, npm install in another project, and the README's SDK example type-checks and runs there", async () => {
  const packed = JSON.parse(await ok('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], ROOT));
  const tarball = packed[0].filename as string;
  scratchProject(tarball);
  await ok('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], scratch);

  // The example as written; only the address differs.
  writeFileSync(path.join(scratch, 'example.ts'), readmeSdkExample(t.address));
  const compilerOptions = {
    strict: true,
    module: 'node16',
    moduleResolution: 'node16',
    target: 'es2022',
    noEmit: true,
    typeRoots: [path.join(ROOT, 'node_modules/@types')],
    types: ['node'],
  };
  writeFileSync(path.join(scratch, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['example.ts'] }));
  await ok(process.execPath, [TSC, '-p', 'tsconfig.json'], scratch);

  const { outputText } = ts.transpileModule(readFileSync(path.join(scratch, 'example.ts'), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  });
  writeFileSync(
    path.join(scratch, 'example.js'),
    `${outputText}\nexports.main().catch((error) => { console.error(error); process.exit(1); });\n`,
  );
  const stdout = await ok(process.execPath, ['example.js'], scratch, 30_000);

  // What the example prints: the story with no newline, the replay from seq 40 (the story's last 10 tokens, as
  // console.log shows an array), the publish count, and the session's tokens.
  const replayAt = stdout.indexOf('40 [\n');
  expect(replayAt).toBeGreaterThan(50);
  const story = stdout.slice(0, replayAt);
  const rest = stdout.slice(replayAt);
  const replayed = [...rest.slice(0, rest.indexOf(']')).matchAll(/'([^']*)'/g)].map((match) => match[1]);
  expect(replayed).toHaveLength(10);
  expect(story.endsWith(replayed.join(''))).toBe(true);
  expect(rest.endsWith("]\n3\n[ 'one' ]\n")).toBe(true);
  // It ran the installed copy: nothing of the clone was on its path.
  const installed = path.join(scratch, 'node_modules/tokenrelay/package.json');
  expect(JSON.parse(readFileSync(installed, 'utf8')).version).toBe(
    JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version,
  );
  // About 20 s here (npm pack, npm ci, tsc), against a default of 30 s: room for a slower machine.
}, 180_000);
