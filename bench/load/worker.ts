/**
 * A load-client process: runs the commands the harness sends over IPC and
 * replies with their results. Each command lives in the module named for
 * what it drives.
 */
import { generateCommands } from './generate';
import { idleCommands } from './idle';
import { latencyCommands } from './latency';
import { publishCommands } from './publish';
import { sseCommands } from './sse';
import { subscribeCommands } from './subscribe';
import { ttftCommands } from './ttft';

type Command = (params: never) => Promise<unknown>;

const COMMANDS: Record<string, Command> = {
  ...generateCommands,
  ...sseCommands,
  ...publishCommands,
  ...subscribeCommands,
  ...latencyCommands,
  ...idleCommands,
  ...ttftCommands,
};

process.on('message', (message: { id: number; command: string; params: never }) => {
  const command = COMMANDS[message.command];
  const run = command ? command(message.params) : Promise.reject(new Error(`unknown command ${message.command}`));
  run.then(
    (result) => process.send?.({ id: message.id, ok: true, result }),
    (error: unknown) => process.send?.({ id: message.id, ok: false, error: error instanceof Error ? error.message : String(error) }),
  );
});
// The harness may disappear without a word (Ctrl-C): do not outlive it.
process.on('disconnect', () => process.exit(0));
