import { FinishReason as ProtoFinishReason, type TokenChunk } from '../gen/tokenrelay/v1/data_service';
import { type Chunk, type ChunkOutput, ChunkWriter } from '../core/pump';
import type { PackedRun } from '../core/streams/packedLog';
import type { PackedTokenChunk } from './tokenChunkEncoder';
import type { FinishReason } from '../core/streams/tokenStream';

const TO_PROTO: Record<FinishReason, ProtoFinishReason> = {
  stop: ProtoFinishReason.FINISH_REASON_STOP,
  length: ProtoFinishReason.FINISH_REASON_LENGTH,
  cancelled: ProtoFinishReason.FINISH_REASON_CANCELLED,
  error: ProtoFinishReason.FINISH_REASON_ERROR,
};

/** The stream log's reason for a proto finish reason set by a publisher; undefined when unset. */
export function finishReasonFromProto(reason: ProtoFinishReason): FinishReason | undefined {
  switch (reason) {
    case ProtoFinishReason.FINISH_REASON_STOP:
      return 'stop';
    case ProtoFinishReason.FINISH_REASON_LENGTH:
      return 'length';
    case ProtoFinishReason.FINISH_REASON_CANCELLED:
      return 'cancelled';
    case ProtoFinishReason.FINISH_REASON_ERROR:
      return 'error';
    default:
      return undefined;
  }
}

/** The pump's chunk on the wire: the one place the gRPC edge maps a domain chunk (its end, a heartbeat) to a TokenChunk. */
export function toTokenChunk(streamId: string, chunk: Chunk, cached = false): TokenChunk {
  const { end, packed } = chunk;
  const finishReason = end ? TO_PROTO[end.reason] : ProtoFinishReason.FINISH_REASON_UNSPECIFIED;
  const usage = end
    ? {
        promptTokens: end.usage.promptTokens,
        completionTokens: end.usage.completionTokens,
        cachedTokens: cached ? end.usage.completionTokens : 0,
      }
    : undefined;
  const heartbeat = chunk.heartbeat === true;
  if (packed !== undefined) return new PackedTokenChunkMessage(streamId, chunk.seq, packed, finishReason, usage, heartbeat);
  return { streamId, seq: chunk.seq, tokens: chunk.tokens, finishReason, usage, heartbeat };
}

/**
 * A TokenChunk over packed bytes: encodeTokenChunk copies `packed`; any other
 * encoder reads `tokens`, decoded then. A class, so every such chunk has one
 * hidden class and the getter lives on its prototype.
 */
class PackedTokenChunkMessage implements PackedTokenChunk {
  constructor(
    readonly streamId: string,
    readonly seq: number,
    readonly packed: PackedRun,
    readonly finishReason: ProtoFinishReason,
    readonly usage: TokenChunk['usage'],
    readonly heartbeat: boolean,
  ) {}

  get tokens(): string[] {
    return this.packed.strings();
  }
}

/** Wraps a writer of TokenChunks (a call, a session) as the pump's output for one stream. */
export function tokenChunkOutput(
  streamId: string,
  write: (chunk: TokenChunk) => boolean,
  output: Omit<ChunkOutput, 'write'>,
  cached = false,
): ChunkOutput {
  return new ChunkWriter((chunk) => write(toTokenChunk(streamId, chunk, cached)), output);
}
