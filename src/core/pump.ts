import type { PackedRun } from './streams/packedLog';
import type { StreamReader, TokenBatch } from './streams/store';
import { type StreamEnd, pastTheEnd } from './streams/tokenStream';

/**
 * What the pump hands an edge: consecutive tokens of one stream, and on the
 * last chunk of a stream that ended normally, its end. Each edge turns it
 * into its wire format (a TokenChunk, an SSE event) in one place.
 */
export interface Chunk {
  /** The seq of tokens[0]; on a chunk without tokens, the next seq. */
  seq: number;
  tokens: string[];
  /** The same tokens as UTF-8 from the packed log, when they come from it: an edge may encode these bytes instead of the strings. */
  packed?: PackedRun;
  /** Set on the last chunk of a stream that ended normally (a failure is the pump's return value, not a chunk). */
  end?: StreamEnd;
  /** True on a heartbeat: no tokens, sent when nothing was sent for the heartbeat interval. */
  heartbeat?: boolean;
}

/** Where a pump writes chunks: a gRPC call, a session that wraps them, an HTTP response. */
export interface ChunkOutput {
  /** Writes one chunk; false means the transport's buffer is full. */
  write(chunk: Chunk): boolean;
  /** Resolves when the transport can take more, or the consumer is gone. */
  drained(): Promise<void>;
  /** Whether the consumer is gone (cancelled, disconnected): the pump stops. */
  readonly gone: boolean;
}

/**
 * A ChunkOutput that writes through a function and takes `drained` and
 * `gone` from the transport under it: how an edge adapts its transport.
 *
 * A class on purpose, never an object literal with a `gone` getter: V8 gives
 * each such literal a hidden class of its own, allocated in old space, and
 * that map's getter closure then holds the whole call (the transport, the
 * grpc-js call, the HTTP/2 stream) through every young-generation GC until
 * the next full one. Every call's objects were promoted that way, and GC per
 * call tripled.
 */
export class ChunkWriter implements ChunkOutput {
  constructor(
    private readonly writeChunk: (chunk: Chunk) => boolean,
    private readonly transport: Omit<ChunkOutput, 'write'>,
  ) {}

  write(chunk: Chunk): boolean {
    return this.writeChunk(chunk);
  }

  drained(): Promise<void> {
    return this.transport.drained();
  }

  get gone(): boolean {
    return this.transport.gone;
  }
}

export interface PumpLimits {
  /** Most tokens in one chunk. */
  maxChunkTokens: number;
  /** Most bytes (about) in one chunk. */
  maxChunkBytes: number;
  /** A heartbeat goes out when nothing was sent for this long, in ms. */
  heartbeatMs: number;
}

/**
 * Copies a stream from the reader's position to the output until the end.
 * Tokens go out as soon as they exist; whatever piled up while the consumer
 * was busy goes out together in one chunk (adaptive coalescing, no timers).
 * A normal end is sent as the last chunk (finish reason and usage, with the
 * last tokens when they are there together). While nothing is sent for
 * heartbeatMs, a heartbeat chunk goes out. Returns the end, or undefined when
 * the consumer went away first. A failed end is returned, not sent: the
 * caller turns it into a status.
 */
export async function pumpStream(reader: StreamReader, output: ChunkOutput, limits: PumpLimits): Promise<StreamEnd | undefined> {
  const stream = reader.stream;
  let lastSentMs = performance.now();
  let awaitingDrain = false;
  let heartbeat: NodeJS.Timeout | undefined;
  const beat = () => {
    if (output.gone || reader.atEnd) return;
    const quietMs = performance.now() - lastSentMs;
    if (quietMs >= limits.heartbeatMs && !awaitingDrain) {
      output.write({ seq: reader.pos, tokens: [], heartbeat: true });
      lastSentMs = performance.now();
    }
    schedule();
  };
  const schedule = () => {
    heartbeat = setTimeout(beat, Math.max(1, limits.heartbeatMs - (performance.now() - lastSentMs)));
    heartbeat.unref();
  };
  // Armed when the pump first has to wait: a call answered in one go (a short
  // generation, a replay, a cached answer) never sets and clears a timer.
  const arm = () => {
    if (heartbeat === undefined) schedule();
  };
  try {
    // One microtask before the first read: a producer that already finished
    // in this same turn (a short unpaced generation settles its end one
    // microtask after its last token) then goes out as one chunk carrying its
    // tokens and its end, instead of a chunk and then a second one for the
    // end. No time passes: the write still happens in this turn.
    await Promise.resolve();
    for (;;) {
      if (output.gone || reader.isClosed) return undefined;
      const batch = reader.read(limits.maxChunkTokens, limits.maxChunkBytes);
      if (batch) {
        const end = reader.atEnd && !stream.end?.failure ? stream.end : undefined;
        const ready = output.write(chunkOf(batch, end));
        lastSentMs = performance.now();
        if (end) return end;
        if (!ready) {
          awaitingDrain = true;
          arm();
          await output.drained();
          awaitingDrain = false;
        }
        continue;
      }
      const end = stream.end;
      if (end && reader.atEnd) {
        // A reader that waited past the end of a live stream, which then ended short of it.
        if (reader.pos > stream.nextSeq) return { ...end, reason: 'error', failure: pastTheEnd(stream, reader.pos) };
        if (!end.failure) output.write({ seq: reader.pos, tokens: [], end });
        return end;
      }
      arm();
      await reader.wait();
    }
  } finally {
    clearTimeout(heartbeat);
  }
}

/** A batch as a chunk; a packed one keeps its bytes, and its strings are decoded only if an edge asks for them. */
function chunkOf(batch: TokenBatch, end: StreamEnd | undefined): Chunk {
  const packed = batch.packed;
  return packed === undefined ? { seq: batch.seq, tokens: batch.tokens, end } : new PackedChunk(batch.seq, packed, end);
}

/** A class, not a literal with a getter: one hidden class for every chunk, so the hot path stays monomorphic. */
class PackedChunk implements Chunk {
  constructor(
    readonly seq: number,
    readonly packed: PackedRun,
    readonly end: StreamEnd | undefined,
  ) {}

  get tokens(): string[] {
    return this.packed.strings();
  }
}
