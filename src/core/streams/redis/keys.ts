import { checkStreamId } from '../status';

/**
 * The Redis names of one stream. Every one carries the stream id as its hash
 * tag (`{id}`), so all of a stream's keys, and its shard channel, live in one
 * cluster slot: the Lua scripts that touch them run unchanged on Redis
 * Cluster. The id is checked here too, not only at the edge: it has no `{`,
 * `}`, `*`, space or newline, so it cannot widen the tag, act as a pattern,
 * or reach another stream's keys.
 */
export interface StreamKeys {
  /** Hash: the stream's state, lease, next seq, end, and what it was started with. */
  readonly meta: string;
  /** Stream: one entry per appended run of tokens (ID `<first seq>-1`), then one for the end. */
  readonly log: string;
  /** Hash: replica id → until when (ms, Redis clock) that replica has readers of the stream. */
  readonly readers: string;
  /** Shard channel: "t<next seq>" after an append, "e" at the end, "r" when readers come or go, "x" when another replica takes the producer over. */
  readonly channel: string;
}

export function streamKeys(prefix: string, id: string): StreamKeys {
  checkStreamId(id);
  const tag = `${prefix}:{${id}}`;
  return { meta: `${tag}:meta`, log: `${tag}:log`, readers: `${tag}:readers`, channel: `${tag}:events` };
}

/** Sorted set of finished streams (`id incarnation` by end time), for the count bound on retention. */
export function retainedKey(prefix: string): string {
  return `${prefix}:{retained}`;
}

/** A response cache entry (its key is a SHA-256 in hex): the id of the stream that answers it. */
export function cacheKey(prefix: string, key: string): string {
  return `${prefix}:cache:${key}`;
}

/** The token text bytes of each retained stream, and their `total`; in the retained set's slot (one script uses both). */
export function retainedBytesKey(prefix: string): string {
  return `${prefix}:{retained}:bytes`;
}
