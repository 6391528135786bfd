import { simTokens } from '../../src/core/models/sim';

/** The first `count` tokens the sim model produces for a seed (temperature 1, top_p 1): what an uninterrupted run gives. */
export function simPrefix(seed: number, count: number): string[] {
  const tokens: string[] = [];
  if (count <= 0) return tokens;
  for (const token of simTokens(seed, 1, 1)) {
    tokens.push(token);
    if (tokens.length === count) break;
  }
  return tokens;
}
