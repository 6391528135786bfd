import { type CancelSource, type FailureReason, type StatusCode, StreamFailure } from '../status';
import type { FinishReason, StreamEnd } from '../tokenStream';

/**
 * How a run of tokens and a stream's end are stored in its Redis log.
 *
 * A run is one entry with two fields: `t`, the tokens joined, and `l`, each
 * token's length in UTF-16 code units, comma-separated. That is one string
 * copy of the text and a few bytes per token, instead of a field per token.
 * (Redis keeps the text as UTF-8; a token's UTF-16 length survives the round
 * trip, a lone surrogate included, which comes back as U+FFFD.) The end is
 * one entry with one field, `e`: the StreamEnd as JSON.
 */

export interface EncodedRun {
  text: string;
  lengths: string;
}

export function encodeRun(tokens: readonly string[]): EncodedRun {
  let text = '';
  let lengths = '';
  for (let index = 0; index < tokens.length; index++) {
    text += tokens[index];
    lengths += index === 0 ? String(tokens[index].length) : `,${tokens[index].length}`;
  }
  return { text, lengths };
}

/** A log entry that is not what the store writes: the stream ends with INTERNAL. */
export class CorruptEntry extends Error {
  constructor(
    readonly entryId: string,
    reason: string,
  ) {
    super(`stream log entry ${entryId} is corrupt: ${reason}`);
    this.name = 'CorruptEntry';
  }
}

/** One entry read back: a run of tokens from `seq`, or the end. */
export type LogEntry =
  | { kind: 'run'; id: string; seq: number; tokens: string[] }
  | { kind: 'end'; id: string; seq: number; end: StreamEnd };

/** Decodes an entry as XRANGE returns it: [id, [field, value, ...]]. */
export function decodeEntry(raw: unknown): LogEntry {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string' || !Array.isArray(raw[1])) throw new CorruptEntry(String(raw), 'not an entry');
  const [id, fields] = raw as [string, unknown[]];
  const seq = Number(id.slice(0, id.indexOf('-')));
  if (!/^\d+-\d+$/.test(id) || !Number.isSafeInteger(seq)) throw new CorruptEntry(id, 'its id is not <seq>-<n>');
  const values = new Map<string, string>();
  for (let index = 0; index + 1 < fields.length; index += 2) values.set(String(fields[index]), String(fields[index + 1]));
  const endJson = values.get('e');
  if (endJson !== undefined) return { kind: 'end', id, seq, end: decodeEnd(endJson, id) };
  const text = values.get('t');
  const lengths = values.get('l');
  if (text === undefined || lengths === undefined) throw new CorruptEntry(id, 'it has neither a run (t, l) nor an end (e)');
  const tokens: string[] = [];
  let at = 0;
  for (const part of lengths.split(',')) {
    const length = Number(part);
    if (!/^\d+$/.test(part) || at + length > text.length)
      throw new CorruptEntry(id, `bad token length ${JSON.stringify(part.slice(0, 20))}`);
    tokens.push(text.slice(at, at + length));
    at += length;
  }
  if (at !== text.length) throw new CorruptEntry(id, 'its lengths do not add up to its text');
  return { kind: 'run', id, seq, tokens };
}

const REASONS = new Set<FinishReason>(['stop', 'length', 'cancelled', 'error']);

/** The end as stored: {reason, usage: {promptTokens, completionTokens}, failure?}; see storedFailure. */
export function encodeEnd(end: StreamEnd): string {
  return JSON.stringify({
    reason: end.reason,
    usage: end.usage,
    ...(end.failure ? { failure: storedFailure(end.failure) } : {}),
  });
}

/** What is stored of a failure: a StreamFailure, or the same fields without an Error's stack to capture. */
export type FailureFields = Pick<StreamFailure, 'code' | 'message' | 'details'>;

/** A failure as stored: {code, message, reason?}, so every replica reports it with the same ErrorInfo reason. */
export function storedFailure(failure: FailureFields): { code: StatusCode; message: string; reason?: string; by?: string } {
  const { reason, cancelledBy } = failure.details;
  return { code: failure.code, message: failure.message, ...(reason ? { reason } : {}), ...(cancelledBy ? { by: cancelledBy } : {}) };
}

/** What a stored reason may be: one written by this or a newer version (a reason this one does not know is kept). */
const STORED_REASON = /^[A-Z][A-Z0-9_]{0,62}$/;

export function decodeEnd(json: string, where: string): StreamEnd {
  let value: {
    reason?: unknown;
    usage?: { promptTokens?: unknown; completionTokens?: unknown };
    failure?: { code?: unknown; message?: unknown; reason?: unknown; by?: unknown };
  };
  try {
    value = JSON.parse(json);
  } catch {
    throw new CorruptEntry(where, 'its end is not JSON');
  }
  const { reason, usage, failure } = value ?? {};
  const count = (n: unknown) => (Number.isSafeInteger(n) && (n as number) >= 0 ? (n as number) : undefined);
  const promptTokens = count(usage?.promptTokens);
  const completionTokens = count(usage?.completionTokens);
  if (!REASONS.has(reason as FinishReason) || promptTokens === undefined || completionTokens === undefined) {
    throw new CorruptEntry(where, 'its end is not {reason, usage}');
  }
  const end: StreamEnd = { reason: reason as FinishReason, usage: { promptTokens, completionTokens } };
  if (failure !== undefined) {
    const code = count(failure.code);
    if (code === undefined || code > 16 || typeof failure.message !== 'string')
      throw new CorruptEntry(where, 'its failure is not {code, message}');
    const reason = typeof failure.reason === 'string' && STORED_REASON.test(failure.reason) ? failure.reason : undefined;
    const by = typeof failure.by === 'string' && STORED_REASON.test(failure.by.toUpperCase()) ? (failure.by as CancelSource) : undefined;
    end.failure = new StreamFailure(code as StatusCode, failure.message, {
      ...(reason ? { reason: reason as FailureReason } : {}),
      ...(by ? { cancelledBy: by } : {}),
    });
  }
  return end;
}
