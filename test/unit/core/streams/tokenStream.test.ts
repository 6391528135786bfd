import { StatusCode, StreamFailure } from '../../../../src/core/streams/status';
import type { StreamEnd } from '../../../../src/core/streams/tokenStream';
import { failureOf, newStream, tokenNames, plain } from './support';

describe('token stream log', () => {
  it('numbers tokens from 0: nextSeq is the count so far and a reader from 0 sees seq 0 first', () => {
    const stream = newStream();
    expect(stream.nextSeq).toBe(0);
    stream.append('a');
    stream.append('b');
    expect(stream.nextSeq).toBe(2);
    stream.appendMany(['c', 'd', 'e']);
    expect(stream.nextSeq).toBe(5);
    expect(plain(stream.openReader(0).read())).toEqual({ seq: 0, tokens: ['a', 'b', 'c', 'd', 'e'] });
    expect(plain(stream.openReader(3).read())).toEqual({ seq: 3, tokens: ['d', 'e'] });
  });

  it('appendMany of nothing appends nothing', () => {
    const stream = newStream();
    expect(stream.appendMany([])).toBeUndefined();
    expect(stream.nextSeq).toBe(0);
    expect(stream.firstTokenAtMs).toBeUndefined();
  });

  it('records when the first token arrived and keeps that time', () => {
    const stream = newStream();
    expect(stream.firstTokenAtMs).toBeUndefined();
    stream.append('a');
    const first = stream.firstTokenAtMs;
    expect(first).toEqual(expect.any(Number));
    stream.append('b');
    expect(stream.firstTokenAtMs).toBe(first);
  });

  it.each([0, -1, NaN])('rejects windowTokens %p', (windowTokens) => {
    expect(() => newStream({ windowTokens })).toThrow(RangeError);
  });

  describe('finish', () => {
    it('ends the stream once with the reason and usage counted from the log', () => {
      const stream = newStream({ promptTokens: 7 });
      stream.appendMany(['a', 'b', 'c']);
      expect(stream.end).toBeUndefined();
      expect(stream.finish('length')).toBe(true);
      expect(stream.end).toEqual({ reason: 'length', usage: { promptTokens: 7, completionTokens: 3 } });
      expect(stream.end?.failure).toBeUndefined();
      expect(stream.signal.aborted).toBe(false);
    });

    it('counts the prompt once, when the end needs it, and never when the producer reports its own count', () => {
      let counted = 0;
      const countPromptTokens = () => {
        counted++;
        return 12;
      };
      const stream = newStream({ countPromptTokens });
      stream.openReader(0);
      stream.appendMany(['a', 'b']);
      stream.append('c');
      expect(counted).toBe(0); // not at creation, not on the way
      stream.finish('stop');
      expect(stream.end?.usage).toEqual({ promptTokens: 12, completionTokens: 3 });
      expect(stream.promptTokens).toBe(12);
      expect(counted).toBe(1);

      const reported = newStream({ countPromptTokens });
      reported.append('a');
      reported.finish('stop', { promptTokens: 30, completionTokens: 1 });
      expect(reported.end?.usage).toEqual({ promptTokens: 30, completionTokens: 1 });
      expect(reported.promptTokens).toBe(30); // the counter, and the prompt it holds, are let go
      expect(counted).toBe(1);

      const failed = newStream({ countPromptTokens });
      failed.fail(new StreamFailure(StatusCode.CANCELLED, 'gone'));
      expect(failed.end?.usage).toEqual({ promptTokens: 12, completionTokens: 0 });
      expect(counted).toBe(2);
    });

    it('takes usage from the caller when given', () => {
      const stream = newStream({ promptTokens: 7 });
      stream.append('a');
      stream.finish('stop', { completionTokens: 40 });
      expect(stream.end?.usage).toEqual({ promptTokens: 7, completionTokens: 40 });
    });

    it('a second finish or a later fail changes nothing and returns false', () => {
      const stream = newStream();
      stream.append('a');
      expect(stream.finish('stop')).toBe(true);
      const end = stream.end;
      expect(stream.finish('length')).toBe(false);
      expect(stream.fail(new StreamFailure(StatusCode.INTERNAL, 'late'))).toBe(false);
      expect(stream.end).toBe(end);
      expect(stream.end?.reason).toBe('stop');
      expect(stream.signal.aborted).toBe(false);
    });

    it('appending after the end is ignored and does not ask the producer to wait', () => {
      const stream = newStream({ windowTokens: 1 });
      stream.openReader(0);
      stream.finish('stop');
      expect(stream.append('late')).toBeUndefined();
      expect(stream.appendMany(['late', 'later'])).toBeUndefined();
      expect(stream.nextSeq).toBe(0);
      expect(stream.end?.usage.completionTokens).toBe(0);
    });
  });

  describe('fail', () => {
    it('ends the stream with reason error and the failure, and aborts the signal with the failure as reason', () => {
      const stream = newStream();
      stream.append('a');
      const failure = new StreamFailure(StatusCode.UNAVAILABLE, 'upstream went away');
      expect(stream.fail(failure)).toBe(true);
      expect(stream.end).toEqual({ reason: 'error', usage: { promptTokens: 0, completionTokens: 1 }, failure });
      expect(stream.end?.failure?.code).toBe(StatusCode.UNAVAILABLE);
      expect(stream.signal.aborted).toBe(true);
      expect(stream.signal.reason).toBe(failure);
    });

    it('a CANCELLED failure ends the stream with reason cancelled', () => {
      const stream = newStream();
      const failure = new StreamFailure(StatusCode.CANCELLED, 'client cancelled');
      stream.fail(failure);
      expect(stream.end?.reason).toBe('cancelled');
      expect(stream.end?.failure?.code).toBe(StatusCode.CANCELLED);
      expect(stream.signal.reason).toBe(failure);
    });

    it('only the first failure counts; a later fail or finish returns false', () => {
      const stream = newStream();
      const first = new StreamFailure(StatusCode.DEADLINE_EXCEEDED, 'too slow');
      expect(stream.fail(first)).toBe(true);
      expect(stream.fail(new StreamFailure(StatusCode.INTERNAL, 'second'))).toBe(false);
      expect(stream.finish('stop')).toBe(false);
      expect(stream.end?.reason).toBe('error');
      expect(stream.end?.failure).toBe(first);
      expect(stream.signal.reason).toBe(first);
    });

    it('tokens appended before the failure stay readable, by old and new readers', () => {
      const stream = newStream();
      const early = stream.openReader(0);
      stream.appendMany(tokenNames(4));
      stream.fail(new StreamFailure(StatusCode.ABORTED, 'publisher gave up'));
      expect(plain(early.read())).toEqual({ seq: 0, tokens: ['t0', 't1', 't2', 't3'] });
      expect(early.atEnd).toBe(true);
      const late = stream.openReader(2);
      expect(plain(late.read())).toEqual({ seq: 2, tokens: ['t2', 't3'] });
      expect(late.atEnd).toBe(true);
    });
  });

  describe('onEnd', () => {
    it('calls every listener once with the end', () => {
      const stream = newStream();
      const seen: Array<[string, StreamEnd]> = [];
      stream.onEnd((end) => seen.push(['first', end]));
      stream.onEnd((end) => seen.push(['second', end]));
      stream.append('a');
      expect(seen).toEqual([]);
      stream.finish('stop');
      stream.finish('length');
      stream.fail(new StreamFailure(StatusCode.INTERNAL, 'late'));
      expect(seen).toEqual([
        ['first', stream.end],
        ['second', stream.end],
      ]);
      expect(seen[0][1].reason).toBe('stop');
    });

    it('calls a listener added after the end at once', () => {
      const stream = newStream();
      const failure = new StreamFailure(StatusCode.CANCELLED, 'gone');
      stream.fail(failure);
      const listener = jest.fn();
      stream.onEnd(listener);
      expect(listener).toHaveBeenCalledTimes(1);
      expect(listener).toHaveBeenCalledWith({ reason: 'cancelled', usage: { promptTokens: 0, completionTokens: 0 }, failure });
    });
  });

  describe('openReader', () => {
    it('opens at nextSeq (nothing read yet) on a live and on a finished stream', () => {
      const stream = newStream();
      stream.appendMany(['a', 'b']);
      const live = stream.openReader(2);
      expect(live.read()).toBeUndefined();
      expect(live.atEnd).toBe(false);
      stream.finish('stop');
      const finished = stream.openReader(2);
      expect(finished.read()).toBeUndefined();
      expect(finished.atEnd).toBe(true);
    });

    it('from past the end of a live stream waits for that token, and takes only from it', async () => {
      const stream = newStream();
      stream.appendMany(['a', 'b']);
      const reader = stream.openReader(3);
      expect(stream.readerCount).toBe(1);
      expect(reader.read()).toBeUndefined();
      const waiting = reader.wait();
      stream.append('c'); // seq 2: still before the reader
      expect(reader.read()).toBeUndefined();
      stream.append('d'); // seq 3
      await waiting;
      expect(plain(reader.read())).toEqual({ seq: 3, tokens: ['d'] });
    });

    it('from past the end of a finished stream is OUT_OF_RANGE', () => {
      const stream = newStream();
      stream.append('a');
      stream.finish('stop');
      const failure = failureOf(() => stream.openReader(5));
      expect(failure.code).toBe(StatusCode.OUT_OF_RANGE);
      expect(failure.message).toBe('from_seq: 5 is past the end of finished stream s1, which has 1 tokens');
    });

    it.each([-1, 1.5, NaN, Number.MAX_SAFE_INTEGER + 1])('from %p is INVALID_ARGUMENT', (fromSeq) => {
      const stream = newStream();
      stream.appendMany(['a', 'b']);
      expect(failureOf(() => stream.openReader(fromSeq)).code).toBe(StatusCode.INVALID_ARGUMENT);
      expect(stream.readerCount).toBe(0);
    });

    it('counts open readers; closing is idempotent', () => {
      const stream = newStream();
      const first = stream.openReader(0);
      const second = stream.openReader(0);
      expect(stream.readerCount).toBe(2);
      first.close();
      first.close();
      expect(stream.readerCount).toBe(1);
      second.close();
      expect(stream.readerCount).toBe(0);
    });
  });
});
