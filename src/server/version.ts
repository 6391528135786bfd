import { readFileSync } from 'node:fs';
import path from 'node:path';

/** This package's version, from its package.json (two levels up from src/server and from dist/server). */
export const VERSION: string = (JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string })
  .version;
