import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeRun, run } from './run';

// A Python service calling tokenrelay through stubs generated from proto/ by
// the stock toolchain: Debian's protoc and grpc_python_plugin, run with
// Debian's python3-grpcio and python3-protobuf. Absolute paths, so a pyenv or
// venv python on PATH cannot stand in for the packaged one.
const PROTOC = '/usr/bin/protoc';
const GRPC_PYTHON_PLUGIN = '/usr/bin/grpc_python_plugin';
const PYTHON = '/usr/bin/python3';
const REPO_ROOT = path.resolve(__dirname, '..', '..');
const CLIENT_SCRIPT = path.join(REPO_ROOT, 'test', 'polyglot', 'client.py');
const PROTO_FILES = ['tokenrelay/v1/data_service.proto', 'google/rpc/status.proto', 'google/rpc/error_details.proto'];

/** Python stubs generated into a temporary directory, and a way to run test/polyglot/client.py with them. */
export class PythonClient {
  private constructor(private readonly stubDir: string) {}

  /** Checks the toolchain (failing, never skipping, when it is absent) and generates the stubs. */
  static async prepare(): Promise<PythonClient> {
    await requireToolchain();
    const stubDir = mkdtempSync(path.join(os.tmpdir(), 'tokenrelay-pystubs-'));
    const args = [
      '-I',
      'proto',
      `--python_out=${stubDir}`,
      `--grpc_out=${stubDir}`,
      `--plugin=protoc-gen-grpc=${GRPC_PYTHON_PLUGIN}`,
      ...PROTO_FILES,
    ];
    const generated = await run(PROTOC, args, { cwd: REPO_ROOT, timeoutMs: 20_000 });
    if (generated.code !== 0) throw new Error(`generating the Python stubs failed: ${describeRun(PROTOC, args, generated)}`);
    return new PythonClient(stubDir);
  }

  /** Runs client.py against the address with the plan on stdin; its JSON answer. */
  async run<Output>(address: string, plan: unknown, timeoutMs = 20_000): Promise<Output> {
    // -I: ignore PYTHON* variables and the user's site-packages, so only Debian's packages are used.
    const args = ['-I', CLIENT_SCRIPT, address, this.stubDir];
    const result = await run(PYTHON, args, { input: JSON.stringify(plan), timeoutMs });
    if (result.code !== 0) throw new Error(describeRun(PYTHON, args, result));
    return JSON.parse(result.stdout) as Output;
  }

  dispose(): void {
    rmSync(this.stubDir, { recursive: true, force: true });
  }
}

/** Fails (never skips) when the Debian toolchain is absent, naming what is missing. */
async function requireToolchain(): Promise<void> {
  const missing = [PROTOC, GRPC_PYTHON_PLUGIN, PYTHON].filter((file) => !existsSync(file));
  if (!missing.includes(PYTHON)) {
    const probe = await run(PYTHON, ['-I', '-c', 'import grpc, google.protobuf'], { timeoutMs: 15_000 });
    if (probe.code !== 0) missing.push(`${PYTHON} modules grpc/google.protobuf (${probe.stderr.trim().split('\n').pop()})`);
  }
  if (missing.length > 0) {
    throw new Error(
      `The polyglot test needs Debian's protobuf-compiler, protobuf-compiler-grpc, python3-grpcio and ` +
        `python3-protobuf. Missing: ${missing.join('; ')}. Run .ci/run, which installs them.`,
    );
  }
}
