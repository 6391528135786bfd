import { readFileSync } from 'node:fs';
import path from 'node:path';

const README = path.join(__dirname, '../../README.md');

/**
 * The README's SDK example as a module whose `main()` runs it: its imports
 * at the top, the rest in main. `address` replaces the example's
 * `localhost:50051`, and `from` its `tokenrelay/client` import, if given.
 */
export function readmeSdkExample(address: string, from?: string): string {
  const readme = readFileSync(README, 'utf8');
  const match = /```ts\n(import \{ createClient \} from 'tokenrelay\/client';[\s\S]*?)```/.exec(readme);
  if (!match) throw new Error('the README has no SDK example starting with the tokenrelay/client import');
  let source = match[1].replace("'localhost:50051'", JSON.stringify(address));
  if (from !== undefined) source = source.replace("from 'tokenrelay/client'", `from ${JSON.stringify(from)}`);
  const lines = source.split('\n');
  const imports = lines.filter((line) => line.startsWith('import '));
  const body = lines.filter((line) => !line.startsWith('import '));
  return `${imports.join('\n')}\nexport async function main() {\n${body.join('\n')}\n}\n`;
}
