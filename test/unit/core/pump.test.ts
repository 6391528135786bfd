import { type Chunk, ChunkWriter, pumpStream } from '../../../src/core/pump';
import { newStream, tokenNames } from './streams/support';

const LIMITS = { maxChunkTokens: 4, maxChunkBytes: 1024, heartbeatMs: 60_000 };

/** A transport the test controls: whether it is gone, and how often the pump waited on it. */
class Transport {
  gone = false;
  waits = 0;

  drained(): Promise<void> {
    this.waits++;
    return Promise.resolve();
  }
}

describe('ChunkWriter', () => {
  it('writes through its function and takes drained and gone from the transport', async () => {
    const transport = new Transport();
    const written: Chunk[] = [];
    const writer = new ChunkWriter((chunk) => {
      written.push(chunk);
      return written.length < 2;
    }, transport);
    expect(writer.write({ seq: 0, tokens: ['a'] })).toBe(true);
    expect(writer.write({ seq: 1, tokens: ['b'] })).toBe(false);
    expect(written.map((chunk) => chunk.tokens)).toEqual([['a'], ['b']]);
    await writer.drained();
    expect(transport.waits).toBe(1);
    expect(writer.gone).toBe(false);
    transport.gone = true;
    expect(writer.gone).toBe(true);
  });

  it('carries a whole stream through the pump: every token once, in order, then the end', async () => {
    const stream = newStream();
    const reader = stream.openReader(0);
    const transport = new Transport();
    const chunks: Chunk[] = [];
    // Full after every chunk: the pump must wait on the transport each time and still lose nothing.
    const output = new ChunkWriter((chunk) => {
      chunks.push({ seq: chunk.seq, tokens: [...chunk.tokens], end: chunk.end });
      return false;
    }, transport);
    const pumped = pumpStream(reader, output, LIMITS);
    stream.appendMany(tokenNames(10));
    stream.finish('stop');
    const end = await pumped;
    expect(end?.reason).toBe('stop');
    expect(chunks.flatMap((chunk) => chunk.tokens)).toEqual(tokenNames(10));
    expect(chunks.map((chunk) => chunk.seq)).toEqual([0, 4, 8]);
    expect(chunks.every((chunk) => chunk.tokens.length <= LIMITS.maxChunkTokens)).toBe(true);
    expect(chunks.at(-1)?.end?.reason).toBe('stop');
    expect(transport.waits).toBe(2);
  });

  it('stops the pump when the transport is gone', async () => {
    const stream = newStream();
    const transport = new Transport();
    const seen: string[] = [];
    const output = new ChunkWriter((chunk) => {
      seen.push(...chunk.tokens);
      transport.gone = true;
      return true;
    }, transport);
    const pumped = pumpStream(stream.openReader(0), output, LIMITS);
    stream.appendMany(['a', 'b']);
    await new Promise((resolve) => setImmediate(resolve));
    stream.appendMany(['c']);
    expect(await pumped).toBeUndefined();
    expect(seen).toEqual(['a', 'b']);
  });
});

describe('pumpStream heartbeats', () => {
  afterEach(() => jest.restoreAllMocks());

  it('arms no heartbeat timer for a stream it sends in one go, and one that beats once it has to wait', async () => {
    const setTimer = jest.spyOn(global, 'setTimeout');
    const finished = newStream();
    finished.appendMany(['a', 'b']);
    finished.finish('stop');
    const once: Chunk[] = [];
    const end = await pumpStream(finished.openReader(0), new ChunkWriter((chunk) => once.push(chunk) > 0, new Transport()), {
      ...LIMITS,
      heartbeatMs: 20,
    });
    expect(end?.reason).toBe('stop');
    expect(once.map((chunk) => [chunk.tokens, chunk.end?.reason])).toEqual([[['a', 'b'], 'stop']]);
    expect(setTimer).not.toHaveBeenCalled();

    const live = newStream();
    const chunks: Chunk[] = [];
    const pumped = pumpStream(live.openReader(0), new ChunkWriter((chunk) => chunks.push(chunk) > 0, new Transport()), {
      ...LIMITS,
      heartbeatMs: 20,
    });
    live.appendMany(['c']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    live.finish('stop');
    expect((await pumped)?.reason).toBe('stop');
    const beats = chunks.filter((chunk) => chunk.heartbeat);
    expect(beats.length).toBeGreaterThanOrEqual(1);
    expect(beats.every((chunk) => chunk.tokens.length === 0 && chunk.seq === 1)).toBe(true);
    expect(chunks[0].tokens).toEqual(['c']);
    expect(chunks.at(-1)?.end?.reason).toBe('stop');
  });
});
