import { FinishReason as ProtoFinishReason, TokenChunk } from '../gen/tokenrelay/v1/data_service';
import type { FinishReason, StreamEnd } from '../core/streams/tokenStream';

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

/** A chunk of tokens; with `end`, also the last chunk of the stream. */
export function toChunk(streamId: string, seq: number, tokens: string[], end?: StreamEnd): TokenChunk {
  return {
    streamId,
    seq,
    tokens,
    finishReason: end ? TO_PROTO[end.reason] : ProtoFinishReason.FINISH_REASON_UNSPECIFIED,
    usage: end ? { promptTokens: end.usage.promptTokens, completionTokens: end.usage.completionTokens } : undefined,
    heartbeat: false,
  };
}

/** A heartbeat: no tokens, the next seq, so a consumer can tell a stall from a slow model. */
export function heartbeatChunk(streamId: string, nextSeq: number): TokenChunk {
  return { streamId, seq: nextSeq, tokens: [], finishReason: ProtoFinishReason.FINISH_REASON_UNSPECIFIED, heartbeat: true };
}
