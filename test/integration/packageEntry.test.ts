import path from 'node:path';
import { describeRun, run } from '../helpers/run';

/**
 * The package as another project sees it: `tokenrelay/client` is the SDK
 * alone (none of the server's code or dependencies load with it), and the
 * published files are the built code and the proto.
 */
const ROOT = path.join(__dirname, '../..');

it('require("tokenrelay/client") loads the SDK without any server code or server dependency', async () => {
  // Node resolves a package's own name through its "exports" from inside it, as an installed copy would.
  const script = `
    const sdk = require('tokenrelay/client');
    const client = sdk.createClient('127.0.0.1:1');
    client.close();
    console.log(JSON.stringify({ exports: Object.keys(sdk).sort(), loaded: Object.keys(require.cache) }));`;
  const result = await run(process.execPath, ['-e', script], { cwd: ROOT });
  if (result.code !== 0) throw new Error(describeRun('node', ['-e', script], result));
  const { exports, loaded } = JSON.parse(result.stdout) as { exports: string[]; loaded: string[] };
  expect(exports).toEqual(expect.arrayContaining(['createClient', 'TokenRelayClient', 'TokenRelayError', 'Session', 'ResumableStream']));
  const ours = loaded
    .filter((file) => file.startsWith(path.join(ROOT, 'dist')))
    .map((file) => path.relative(path.join(ROOT, 'dist'), file));
  expect(ours.filter((file) => /^(core|grpc|http|server)\//.test(file) || file === 'cli.js')).toEqual([]);
  expect(ours).toEqual(expect.arrayContaining(['client/index.js', 'common/backoff.js', 'gen/tokenrelay/v1/data_service.js']));
  const dependencies = loaded.filter((file) =>
    /node_modules\/(pino|@redis|undici|prom-client|gpt-tokenizer|grpc-health-check|@grpc\/reflection|p-retry)\//.test(file),
  );
  expect(dependencies).toEqual([]);
});

it('npm pack publishes the built code, its types and the proto, without the bench, source maps or tests', async () => {
  const args = ['pack', '--dry-run', '--json', '--ignore-scripts'];
  const result = await run('npm', args, { cwd: ROOT, timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(describeRun('npm', args, result));
  const [packed] = JSON.parse(result.stdout) as Array<{ files: Array<{ path: string }> }>;
  const files = packed.files.map((file) => file.path);
  expect(files).toEqual(
    expect.arrayContaining([
      'package.json',
      'README.md',
      'dist/cli.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'dist/gen/descriptor.binpb',
      'proto/tokenrelay/v1/data_service.proto',
      'config.schema.json',
    ]),
  );
  expect(files.filter((file) => /^(src|test|bench|dist\/bench)\/|\.map$/.test(file))).toEqual([]);
});
