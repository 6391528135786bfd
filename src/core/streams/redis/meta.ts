import type { AbandonPolicy, StreamEnd } from '../tokenStream';
import { CorruptEntry, decodeEnd } from './codec';

/** A stream's meta hash, as INSPECT returns it: what a replica that does not produce the stream knows of it. */
export interface StreamMeta {
  id: string;
  live: boolean;
  model: string;
  fingerprint: string | undefined;
  /** The principal that created the stream; undefined with auth off. */
  owner: string | undefined;
  abandonPolicy: AbandonPolicy;
  /** A resumable published stream. */
  publishedResumable: boolean;
  promptTokens: number;
  /** Tokens stored: the next seq. */
  nextSeq: number;
  /** UTF-8 bytes of the token text stored. */
  textBytes: number;
  end: StreamEnd | undefined;
  /** Unique per creation of the id. */
  incarnation: string;
}

const POLICIES = new Set<AbandonPolicy>(['cancel', 'grace', 'keep']);

/** Parses INSPECT's flat field/value reply; undefined for an empty one (no such stream). */
export function parseMeta(id: string, reply: unknown): StreamMeta | undefined {
  if (!Array.isArray(reply) || reply.length === 0) return undefined;
  const fields = new Map<string, string>();
  for (let index = 0; index + 1 < reply.length; index += 2) fields.set(String(reply[index]), String(reply[index + 1]));
  const nextSeq = Number(fields.get('next'));
  const policy = fields.get('policy') as AbandonPolicy;
  const state = fields.get('state');
  if (!Number.isSafeInteger(nextSeq) || !POLICIES.has(policy) || (state !== 'live' && state !== 'ended')) {
    throw new CorruptEntry(`${id} meta`, 'missing or malformed fields');
  }
  const endJson = fields.get('end');
  return {
    id,
    live: state === 'live',
    model: fields.get('model') ?? '',
    fingerprint: fields.get('fp') || undefined,
    owner: fields.get('own') || undefined,
    abandonPolicy: policy,
    publishedResumable: fields.get('pub') === '1',
    promptTokens: Number(fields.get('prompt') ?? 0),
    nextSeq,
    textBytes: Number(fields.get('bytes') ?? 0) || 0,
    end: state === 'ended' && endJson !== undefined ? decodeEnd(endJson, `${id} meta`) : undefined,
    incarnation: fields.get('inc') ?? '',
  };
}
