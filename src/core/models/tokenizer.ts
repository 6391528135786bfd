import { decodeGenerator, encode } from 'gpt-tokenizer';

/** Text that looks like a special token (`<|endoftext|>`) is plain text from a user, not an error. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/**
 * Text to token strings with a real BPE tokenizer (o200k_base, as used by
 * current OpenAI models), so token counts mean what they mean for real
 * models. A token that ends inside a multi-byte character is joined to the
 * next one, so every token string is valid UTF-8.
 */
export function tokenize(text: string): string[] {
  if (text.length === 0) return [];
  return [...decodeGenerator(encode(text, PLAIN_TEXT))].filter((piece) => piece.length > 0);
}

/** Token count of a text, as the tokenizer counts it. */
export function countTokens(text: string): number {
  return text.length === 0 ? 0 : encode(text, PLAIN_TEXT).length;
}
