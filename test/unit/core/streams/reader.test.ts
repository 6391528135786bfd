import { StatusCode, StreamFailure } from '../../../../src/core/streams/status';
import type { StreamReader, TokenBatch } from '../../../../src/core/streams/tokenStream';
import { isPending, newStream, nextMacrotask, tokenNames, plain } from './support';

/** Reads until the stream ends, checking that batches are contiguous; yields after each batch. */
async function readAll(reader: StreamReader, maxTokens = Infinity): Promise<{ tokens: string[]; batches: TokenBatch[] }> {
  const tokens: string[] = [];
  const batches: TokenBatch[] = [];
  for (;;) {
    const batch = reader.read(maxTokens);
    if (batch) {
      expect(batch.seq).toBe(reader.pos - batch.tokens.length);
      expect(batch.seq).toBe(tokens.length + (batches[0]?.seq ?? batch.seq));
      batches.push(batch);
      tokens.push(...batch.tokens);
      await nextMacrotask();
      continue;
    }
    if (reader.atEnd) return { tokens, batches };
    await reader.wait();
  }
}

describe('stream readers', () => {
  it('a reader can start at any seq from 0 to nextSeq and gets the rest of the log', () => {
    const stream = newStream();
    const tokens = tokenNames(6);
    stream.appendMany(tokens);
    for (let fromSeq = 0; fromSeq <= tokens.length; fromSeq++) {
      const reader = stream.openReader(fromSeq);
      expect(reader.pos).toBe(fromSeq);
      const batch = reader.read();
      if (fromSeq === tokens.length) expect(batch).toBeUndefined();
      else expect(plain(batch)).toEqual({ seq: fromSeq, tokens: tokens.slice(fromSeq) });
      expect(reader.pos).toBe(tokens.length);
    }
  });

  it('read takes what is there without waiting: undefined when caught up, then the new tokens', () => {
    const stream = newStream();
    const reader = stream.openReader(0);
    expect(reader.read()).toBeUndefined();
    stream.append('a');
    expect(plain(reader.read())).toEqual({ seq: 0, tokens: ['a'] });
    expect(reader.read()).toBeUndefined();
    stream.appendMany(['b', 'c']);
    stream.append('d');
    expect(plain(reader.read())).toEqual({ seq: 1, tokens: ['b', 'c', 'd'] });
  });

  it('several readers each get every token, in order, while the producer runs', async () => {
    const stream = newStream({ windowTokens: 8 });
    const readers = [stream.openReader(0), stream.openReader(0), stream.openReader(0)];
    const expected = tokenNames(500);
    const producer = (async () => {
      for (const [index, token] of expected.entries()) {
        const wait = stream.append(token);
        if (wait) await wait;
        if (index % 7 === 0) await nextMacrotask();
      }
      stream.finish('stop');
    })();
    const results = await Promise.all([readAll(readers[0], 1), readAll(readers[1], 3), readAll(readers[2])]);
    await producer;
    for (const { tokens } of results) expect(tokens).toEqual(expected);
    expect(results[0].batches.every((batch) => batch.tokens.length === 1)).toBe(true);
    expect(results[1].batches.every((batch) => batch.tokens.length <= 3)).toBe(true);
  });

  it('a reader opened mid-stream gets every token from its seq on, live ones included', async () => {
    const stream = newStream();
    stream.appendMany(tokenNames(10));
    const reader = stream.openReader(4);
    const result = readAll(reader);
    stream.appendMany(tokenNames(5, 10));
    stream.finish('stop');
    const { tokens, batches } = await result;
    expect(tokens).toEqual(tokenNames(11, 4));
    expect(batches[0].seq).toBe(4);
  });

  describe('read(maxTokens, maxBytes) coalescing', () => {
    it('with no bounds, everything waiting comes in one batch', () => {
      const stream = newStream();
      const reader = stream.openReader(0);
      stream.appendMany(tokenNames(5));
      expect(plain(reader.read())).toEqual({ seq: 0, tokens: tokenNames(5) });
    });

    it('maxTokens caps each batch and the rest waits for the next read', () => {
      const stream = newStream();
      const reader = stream.openReader(0);
      stream.appendMany(tokenNames(10));
      expect(plain(reader.read(3))).toEqual({ seq: 0, tokens: ['t0', 't1', 't2'] });
      expect(plain(reader.read(3))).toEqual({ seq: 3, tokens: ['t3', 't4', 't5'] });
      expect(plain(reader.read(3))).toEqual({ seq: 6, tokens: ['t6', 't7', 't8'] });
      expect(plain(reader.read(3))).toEqual({ seq: 9, tokens: ['t9'] });
      expect(reader.read(3)).toBeUndefined();
    });

    it('maxBytes caps a batch at the tokens whose lengths fit, the limit included', () => {
      const stream = newStream();
      const reader = stream.openReader(0);
      stream.appendMany(['aa', 'bb', 'cc', 'dd', 'e']);
      expect(plain(reader.read(Infinity, 5))).toEqual({ seq: 0, tokens: ['aa', 'bb'] });
      expect(plain(reader.read(Infinity, 4))).toEqual({ seq: 2, tokens: ['cc', 'dd'] });
      expect(plain(reader.read(Infinity, 4))).toEqual({ seq: 4, tokens: ['e'] });
    });

    it('one token always fits, even one larger than maxBytes, so a reader always progresses', () => {
      const stream = newStream();
      const reader = stream.openReader(0);
      stream.appendMany(['long token', 'x']);
      expect(plain(reader.read(Infinity, 3))).toEqual({ seq: 0, tokens: ['long token'] });
      expect(plain(reader.read(Infinity, 1))).toEqual({ seq: 1, tokens: ['x'] });
    });

    it('the tighter of maxTokens and maxBytes wins', () => {
      const stream = newStream();
      const reader = stream.openReader(0);
      stream.appendMany(['a', 'b', 'c', 'd', 'e', 'f']);
      expect(plain(reader.read(2, 100))).toEqual({ seq: 0, tokens: ['a', 'b'] });
      expect(plain(reader.read(100, 3))).toEqual({ seq: 2, tokens: ['c', 'd', 'e'] });
      expect(plain(reader.read(2, 3))).toEqual({ seq: 5, tokens: ['f'] });
    });
  });

  describe('wait', () => {
    it('stays pending while there is nothing new, and resolves on append', async () => {
      const stream = newStream();
      stream.append('a');
      const reader = stream.openReader(1);
      const waiting = reader.wait();
      expect(await isPending(waiting)).toBe(true);
      stream.append('b');
      expect(await isPending(waiting)).toBe(false);
      expect(plain(reader.read())).toEqual({ seq: 1, tokens: ['b'] });
    });

    it('resolves on appendMany', async () => {
      const stream = newStream();
      const reader = stream.openReader(0);
      const waiting = reader.wait();
      stream.appendMany(['a', 'b']);
      expect(await isPending(waiting)).toBe(false);
    });

    it('resolves when the stream finishes', async () => {
      const stream = newStream();
      const reader = stream.openReader(0);
      const waiting = reader.wait();
      expect(await isPending(waiting)).toBe(true);
      stream.finish('stop');
      expect(await isPending(waiting)).toBe(false);
      expect(reader.atEnd).toBe(true);
    });

    it('resolves when the stream fails', async () => {
      const stream = newStream();
      const reader = stream.openReader(0);
      const waiting = reader.wait();
      stream.fail(new StreamFailure(StatusCode.INTERNAL, 'boom'));
      expect(await isPending(waiting)).toBe(false);
      expect(reader.atEnd).toBe(true);
    });

    it('resolves when the reader is closed, and a closed reader reads nothing', async () => {
      const stream = newStream();
      stream.append('a');
      const reader = stream.openReader(1);
      const waiting = reader.wait();
      expect(await isPending(waiting)).toBe(true);
      reader.close();
      expect(await isPending(waiting)).toBe(false);
      stream.append('b');
      expect(reader.read()).toBeUndefined();
      expect(await isPending(reader.wait())).toBe(false);
    });

    it('resolves at once when tokens are already waiting or the stream has ended', async () => {
      const stream = newStream();
      stream.append('a');
      expect(await isPending(stream.openReader(0).wait())).toBe(false);
      const caughtUp = stream.openReader(1);
      stream.finish('stop');
      expect(await isPending(caughtUp.wait())).toBe(false);
    });
  });

  it('atEnd is true only once the stream has ended and every token is read', () => {
    const stream = newStream();
    const reader = stream.openReader(0);
    expect(reader.atEnd).toBe(false);
    stream.appendMany(['a', 'b']);
    stream.finish('stop');
    expect(reader.atEnd).toBe(false);
    reader.read(1);
    expect(reader.atEnd).toBe(false);
    reader.read(1);
    expect(reader.atEnd).toBe(true);
  });
});
