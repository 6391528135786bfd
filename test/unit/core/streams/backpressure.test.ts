import { StatusCode, StreamFailure } from '../../../../src/core/streams/status';
import { isPending, newStream, nextMacrotask, tokenNames, plain } from './support';

describe('backpressure', () => {
  it('append returns a promise once the slowest live reader is windowTokens behind', () => {
    const stream = newStream({ windowTokens: 3 });
    stream.openReader(0);
    expect(stream.append('a')).toBeUndefined();
    expect(stream.append('b')).toBeUndefined();
    expect(stream.producerPaused).toBe(false);
    expect(stream.append('c')).toBeInstanceOf(Promise);
    expect(stream.producerPaused).toBe(true);
    expect(stream.bufferedTokens).toBe(3);
  });

  it('the producer resumes as soon as the reader takes a token', async () => {
    const stream = newStream({ windowTokens: 3 });
    const reader = stream.openReader(0);
    stream.appendMany(['a', 'b']);
    const paused = stream.append('c');
    expect(paused).toBeDefined();
    expect(await isPending(paused!)).toBe(true);
    expect(plain(reader.read(1))).toEqual({ seq: 0, tokens: ['a'] });
    expect(await isPending(paused!)).toBe(false);
    expect(stream.producerPaused).toBe(false);
    expect(stream.bufferedTokens).toBe(2);
    // One more token fills the window again.
    expect(stream.append('d')).toBeDefined();
  });

  it('appendMany also returns a promise when it fills the window', () => {
    const stream = newStream({ windowTokens: 4 });
    stream.openReader(0);
    expect(stream.appendMany(['a', 'b', 'c'])).toBeUndefined();
    expect(stream.appendMany(['d', 'e'])).toBeDefined();
    expect(stream.producerPaused).toBe(true);
  });

  it('the slowest live reader sets the pace, not the fastest', async () => {
    const stream = newStream({ windowTokens: 4 });
    const fast = stream.openReader(0);
    const slow = stream.openReader(0);
    let paused: Promise<void> | undefined;
    for (const token of tokenNames(4)) {
      paused = stream.append(token);
      fast.read();
    }
    expect(paused).toBeDefined();
    expect(stream.bufferedTokens).toBe(4);
    expect(await isPending(paused!)).toBe(true);
    slow.read(1);
    expect(await isPending(paused!)).toBe(false);
  });

  it('a closed reader no longer holds the producer back', async () => {
    const stream = newStream({ windowTokens: 4 });
    const fast = stream.openReader(0);
    const stalled = stream.openReader(0);
    stream.appendMany(tokenNames(3));
    const paused = stream.append('t3');
    fast.read();
    expect(paused).toBeDefined();
    expect(await isPending(paused!)).toBe(true);
    stalled.close();
    expect(await isPending(paused!)).toBe(false);
    expect(stream.producerPaused).toBe(false);
    expect(stream.bufferedTokens).toBe(0);
    // Only the fast reader counts now: four more tokens before the next pause.
    expect(stream.appendMany(tokenNames(3, 4))).toBeUndefined();
    expect(stream.append('t7')).toBeDefined();
  });

  it('with no readers the producer is never paused', () => {
    const stream = newStream({ windowTokens: 2 });
    const waits = tokenNames(10_000).map((token) => stream.append(token));
    expect(waits.filter((wait) => wait !== undefined)).toEqual([]);
    expect(stream.appendMany(tokenNames(100))).toBeUndefined();
    expect(stream.producerPaused).toBe(false);
    expect(stream.bufferedTokens).toBe(0);
    expect(stream.nextSeq).toBe(10_100);
  });

  it('when the last reader closes the paused producer is let go', async () => {
    const stream = newStream({ windowTokens: 2 });
    const reader = stream.openReader(0);
    stream.append('a');
    const paused = stream.append('b');
    expect(paused).toBeDefined();
    reader.close();
    expect(await isPending(paused!)).toBe(false);
    expect(stream.append('c')).toBeUndefined();
  });

  it.each([
    ['finish', (stream: ReturnType<typeof newStream>) => stream.finish('stop')],
    ['fail', (stream: ReturnType<typeof newStream>) => stream.fail(new StreamFailure(StatusCode.CANCELLED, 'cancelled'))],
  ])('%s lets a paused producer go', async (_name, end) => {
    const stream = newStream({ windowTokens: 1 });
    stream.openReader(0);
    const paused = stream.append('a');
    expect(paused).toBeDefined();
    expect(await isPending(paused!)).toBe(true);
    end(stream);
    expect(await isPending(paused!)).toBe(false);
    expect(stream.producerPaused).toBe(false);
  });

  it('a 10,000-token producer that awaits append stays within the window of a slow reader, and the reader gets every token', async () => {
    const windowTokens = 16;
    const stream = newStream({ windowTokens });
    const reader = stream.openReader(0);
    const expected = tokenNames(10_000);
    let pauses = 0;
    let mostBuffered = 0;
    const bufferedAtPause = new Set<number>();

    const producer = (async () => {
      for (const token of expected) {
        const wait = stream.append(token);
        mostBuffered = Math.max(mostBuffered, stream.bufferedTokens);
        if (wait) {
          pauses++;
          bufferedAtPause.add(stream.bufferedTokens);
          expect(stream.producerPaused).toBe(true);
          await wait;
        }
      }
      stream.finish('stop');
    })();

    // The reader takes at most 3 tokens per turn and lets other tasks run in between.
    const received: string[] = [];
    for (;;) {
      const batch = reader.read(3);
      if (batch) {
        expect(batch.seq).toBe(received.length);
        expect(batch.tokens.length).toBeLessThanOrEqual(3);
        received.push(...batch.tokens);
        await nextMacrotask();
        continue;
      }
      if (reader.atEnd) break;
      await reader.wait();
    }
    await producer;

    expect(received).toEqual(expected);
    expect(stream.end?.reason).toBe('stop');
    expect(mostBuffered).toBe(windowTokens);
    expect([...bufferedAtPause]).toEqual([windowTokens]);
    // The reader is slower, so the producer waited again and again rather than running ahead.
    expect(pauses).toBeGreaterThan(expected.length / 3 / 2);
  });
});
