import { type PackedRun, utf8Length, writeUtf8 } from '../core/streams/packedLog';
import type { TokenChunk } from '../gen/tokenrelay/v1/data_service';

/** A TokenChunk whose tokens are also at hand as packed UTF-8 (see toTokenChunk): they are copied from there. */
export interface PackedTokenChunk extends TokenChunk {
  packed?: PackedRun;
}

/** Scratch for encodeTokenChunk: the UTF-8 lengths of one chunk's tokens (it runs start to end without yielding). */
let tokenBytes = new Uint32Array(512);

/**
 * TokenChunk to wire bytes, the same bytes as the generated
 * `TokenChunk.encode(...).finish()`, for the two hot server-streaming methods.
 *
 * Why by hand: the generated writer allocates a Uint8Array per token string,
 * then joins its chunks, and the generated serializer copies that into a
 * Buffer; with hundreds of tokens per chunk that was the largest allocator
 * on the hot path (garbage collection was a quarter of the server's CPU in
 * the 1,000-stream benchmark). Here the size is counted first and every byte
 * is written once into one Buffer.
 *
 * The field list must match the proto: test/unit/service/tokenChunkEncoder
 * compares the bytes with the generated encoder and fails when TokenChunk
 * gains a field this encoder does not know.
 */
export function encodeTokenChunk(chunk: PackedTokenChunk): Buffer {
  const packed = chunk.packed;
  const tokens = packed === undefined ? chunk.tokens : undefined;
  const count = packed === undefined ? (tokens as string[]).length : packed.count;
  const idBytes = chunk.streamId === '' ? 0 : utf8Length(chunk.streamId);
  let size = 0;
  if (idBytes > 0) size += 1 + varintLength(idBytes) + idBytes;
  if (chunk.seq !== 0) size += 1 + varintLength(chunk.seq);
  // Each token's UTF-8 length, counted once for the size and kept for the write.
  if (tokenBytes.length < count) tokenBytes = new Uint32Array(Math.max(count, 2 * tokenBytes.length));
  for (let index = 0; index < count; index++) {
    const bytes = packed === undefined ? utf8Length((tokens as string[])[index]) : packed.endOf(index) - packed.startOf(index);
    tokenBytes[index] = bytes;
    size += 1 + varintLength(bytes) + bytes;
  }
  if (chunk.finishReason !== 0) size += 1 + int32Length(chunk.finishReason);
  let usageBytes = 0;
  if (chunk.usage !== undefined) {
    if (chunk.usage.promptTokens !== 0) usageBytes += 1 + varintLength(chunk.usage.promptTokens);
    if (chunk.usage.completionTokens !== 0) usageBytes += 1 + varintLength(chunk.usage.completionTokens);
    if (chunk.usage.cachedTokens !== 0) usageBytes += 1 + varintLength(chunk.usage.cachedTokens);
    size += 1 + varintLength(usageBytes) + usageBytes;
  }
  if (chunk.heartbeat) size += 2;

  const out = Buffer.allocUnsafe(size);
  let at = 0;
  if (idBytes > 0) {
    out[at++] = 10;
    at = writeVarint(out, at, idBytes);
    at = writeUtf8(out, at, chunk.streamId);
  }
  if (chunk.seq !== 0) {
    out[at++] = 16;
    at = writeVarint(out, at, chunk.seq);
  }
  for (let index = 0; index < count; index++) {
    out[at++] = 26;
    at = writeVarint(out, at, tokenBytes[index]);
    at =
      packed === undefined
        ? writeUtf8(out, at, (tokens as string[])[index])
        : copyBytes(out, at, packed.bytes, packed.startOf(index), tokenBytes[index]);
  }
  if (chunk.finishReason !== 0) {
    out[at++] = 32;
    at = writeInt32(out, at, chunk.finishReason);
  }
  if (chunk.usage !== undefined) {
    out[at++] = 42;
    at = writeVarint(out, at, usageBytes);
    if (chunk.usage.promptTokens !== 0) {
      out[at++] = 8;
      at = writeVarint(out, at, chunk.usage.promptTokens);
    }
    if (chunk.usage.completionTokens !== 0) {
      out[at++] = 16;
      at = writeVarint(out, at, chunk.usage.completionTokens);
    }
    if (chunk.usage.cachedTokens !== 0) {
      out[at++] = 24;
      at = writeVarint(out, at, chunk.usage.cachedTokens);
    }
  }
  if (chunk.heartbeat) {
    out[at++] = 48;
    out[at++] = 1;
  }
  return out;
}

/** Copies one token's bytes: a loop for the short ones most tokens are (a native copy costs more than it saves there). */
function copyBytes(out: Buffer, at: number, from: Uint8Array, start: number, length: number): number {
  if (length > 64) {
    out.set(from.subarray(start, start + length), at);
    return at + length;
  }
  for (let index = 0; index < length; index++) out[at + index] = from[start + index];
  return at + length;
}

/** Bytes of a varint for a non-negative integer up to 2^53 (uint32 and uint64-as-number fields). */
function varintLength(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    bytes++;
  }
  return bytes;
}

function writeVarint(out: Buffer, start: number, value: number): number {
  let at = start;
  while (value >= 0x80) {
    out[at++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[at++] = value;
  return at;
}

/** An int32 field: negative values take ten bytes (sign-extended to 64 bits), as protobuf writes them. */
function int32Length(value: number): number {
  return value < 0 ? 10 : varintLength(value);
}

function writeInt32(out: Buffer, start: number, value: number): number {
  if (value >= 0) return writeVarint(out, start, value);
  let at = start;
  let low = value >>> 0;
  for (let index = 0; index < 4; index++) {
    out[at++] = (low & 0x7f) | 0x80;
    low >>>= 7;
  }
  // Bits 28-31 of the low word, then the high word all ones (sign extension).
  out[at++] = (low & 0x0f) | 0x70 | 0x80;
  for (let index = 0; index < 4; index++) out[at++] = 0xff;
  out[at++] = 0x01;
  return at;
}
