/**
 * Runs `tokenrelay serve` exactly as dist/cli.js does, in a process the
 * harness can probe for memory (see probe.ts). Usage:
 *   node --expose-gc serverHost.js serve --host ... --config FILE
 */
import { CLI } from './paths';
import { installProbe } from './probe';

installProbe();
process.argv = [process.argv[0], CLI, ...process.argv.slice(2)];
// eslint-disable-next-line @typescript-eslint/no-require-imports
require(CLI);
