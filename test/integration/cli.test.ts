import { spawn } from 'node:child_process';
import path from 'node:path';
import { ProbeModel } from '../helpers/probeModel';
import { run } from '../helpers/run';
import { startTestServer, type TestServer, waitFor } from '../helpers/server';

const CLI = path.join(__dirname, '../../dist/cli.js');

let t: TestServer;
let probe: ProbeModel;
beforeAll(async () => {
  t = await startTestServer();
  probe = new ProbeModel('probe', 20);
  t.server.models.register(probe);
});
afterAll(() => t.close());

describe('the tokenrelay CLI', () => {
  it('`generate` prints the tokens, then the finish reason and usage', async () => {
    const result = await run(process.execPath, [CLI, 'generate', '--addr', t.address, '--model', 'echo', 'Hello from the CLI']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('Hello from the CLI\n'); // a newline at the end, since stdout is a pipe
    expect(result.stderr).toMatch(/\[stream [0-9a-f-]+: stop; prompt_tokens=4 completion_tokens=4\]/);
  });

  it('`models` lists the models and marks the default', async () => {
    const result = await run(process.execPath, [CLI, 'models', '--addr', t.address]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^sim \(default\)\tsim\t/m);
    expect(result.stdout).toMatch(/^echo\techo\t/m);
  });

  it('Ctrl-C during `generate` cancels the stream on the server: the model stops', async () => {
    const child = spawn(process.execPath, [CLI, 'generate', '--addr', t.address, '--model', 'probe', '--max-tokens', '4000', 'go'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await waitFor(() => stdout.includes('word-3 '), 10_000, 'a few tokens');
    child.kill('SIGINT');
    expect(await exit).toBe(130);
    const run = probe.runs.at(-1)!;
    await waitFor(() => run.abortedMs !== undefined, 2000, 'the model to be aborted');
    expect(run.tokens).toBeLessThan(4000);
  });

  it('bad usage exits 2 with a message', async () => {
    const result = await run(process.execPath, [CLI, 'frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('a config error names the field and the process does not start', async () => {
    const result = await run(process.execPath, [CLI, 'serve', '--grpc-port', '0', '--http-port', '0', '--config', '/nonexistent.json']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/config file \/nonexistent.json: /);
  });
});
