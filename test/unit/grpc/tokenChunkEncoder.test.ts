import { FinishReason, TokenChunk } from '../../../src/gen/tokenrelay/v1/data_service';
import { SimText } from '../../../src/core/models/sim';
import { PAGE_TOKENS, PackedLog } from '../../../src/core/streams/packedLog';
import { encodeTokenChunk } from '../../../src/grpc/tokenChunkEncoder';
import { random } from '../../helpers/random';

const generated = (chunk: TokenChunk) => Buffer.from(TokenChunk.encode(chunk).finish());

const ODD_TOKENS = [
  '',
  'a',
  ' the',
  'é',
  'ß',
  '€',
  '日本',
  '🎉',
  'a🎉b',
  '\u0000',
  '\u007f',
  '\u0080',
  '\u07ff',
  '\u0800',
  '\uffff',
  'x'.repeat(200),
  '\ud800',
  'z\udc00',
  '\udbff\udfff',
];

describe('the hand-written TokenChunk encoder', () => {
  it('writes the same bytes as the generated encoder for every field and value shape', () => {
    const next = random(7);
    const text = new SimText(3, 1, 1);
    for (let index = 0; index < 600; index++) {
      const tokens = Array.from({ length: Math.floor(next() * 300) }, () =>
        next() < 0.2 ? ODD_TOKENS[Math.floor(next() * ODD_TOKENS.length)] : text.next(),
      );
      const chunk: TokenChunk = {
        streamId: next() < 0.2 ? '' : `stream-${index}-é`,
        seq: [0, 1, 127, 128, 16383, 16384, 2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1, Math.floor(next() * 1e9)][index % 10],
        tokens,
        finishReason: [0, 1, 2, 3, 4, -1][index % 6] as FinishReason,
        usage:
          index % 3 === 0
            ? undefined
            : {
                promptTokens: index % 5 === 0 ? 0 : Math.floor(next() * 70000),
                completionTokens: index % 7 === 0 ? 0 : index,
                cachedTokens: index % 11 === 0 ? index : 0,
              },
        heartbeat: index % 4 === 0,
      };
      const ours = encodeTokenChunk(chunk);
      const theirs = generated(chunk);
      // Compared as bytes first (fast); as hex only on a difference, to show it.
      if (!ours.equals(theirs)) expect(ours.toString('hex')).toBe(theirs.toString('hex'));
    }
  });

  it('writes the same bytes from the packed log as from the strings, tokens that cross a page included', () => {
    const next = random(13);
    const text = new SimText(5, 1, 1);
    const log = new PackedLog();
    const reference: string[] = [];
    while (reference.length < PAGE_TOKENS + 500) {
      const tokens = Array.from({ length: 1 + Math.floor(next() * 200) }, () =>
        next() < 0.2 ? ODD_TOKENS[Math.floor(next() * ODD_TOKENS.length)] : text.next(),
      );
      log.append(tokens);
      reference.push(...tokens);
    }
    let differences = 0;
    for (let seq = 0; seq < reference.length; seq += 1 + Math.floor(next() * 50)) {
      const run = log.run(seq, 1 + Math.floor(next() * 300), Infinity);
      if (run === undefined) throw new Error(`no run at ${seq}`);
      const message = { streamId: 'p', seq, finishReason: FinishReason.FINISH_REASON_UNSPECIFIED, usage: undefined, heartbeat: false };
      const fromBytes = encodeTokenChunk({ ...message, tokens: [], packed: run });
      // What the generated encoder writes for the same tokens (a lone surrogate is U+FFFD in both).
      const expected = generated({ ...message, tokens: reference.slice(seq, seq + run.count) });
      if (!fromBytes.equals(expected)) differences++;
    }
    expect(differences).toBe(0);
  });

  it('round-trips through the generated decoder', () => {
    const chunk: TokenChunk = {
      streamId: 's',
      seq: 41,
      tokens: [' Hello', ',', ' 世界', ' 🎉'],
      finishReason: FinishReason.FINISH_REASON_LENGTH,
      usage: { promptTokens: 3, completionTokens: 45, cachedTokens: 0 },
      heartbeat: false,
    };
    expect(TokenChunk.decode(encodeTokenChunk(chunk))).toEqual(chunk);
  });

  it('knows every TokenChunk field: a field added to the proto must be added to the encoder', () => {
    // If this fails, TokenChunk gained or lost a field: teach src/grpc/tokenChunkEncoder.ts, then this list.
    expect(Object.keys(TokenChunk.fromPartial({})).sort()).toEqual(['finishReason', 'heartbeat', 'seq', 'streamId', 'tokens', 'usage']);
    expect(Object.keys(TokenChunk.fromPartial({ usage: {} }).usage ?? {}).sort()).toEqual([
      'cachedTokens',
      'completionTokens',
      'promptTokens',
    ]);
  });
});
