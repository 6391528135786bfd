import { StatusCode, StreamFailure } from '../../../../src/core/streams/status';
import { newStream, plain } from './support';

const resumeGraceMs = 1_000;

describe('abandon policies (what happens when the last reader leaves)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  describe("'cancel'", () => {
    it('cancels the stream with CANCELLED when the last reader closes, not before', () => {
      const stream = newStream({ abandonPolicy: 'cancel' });
      const first = stream.openReader(0);
      const second = stream.openReader(0);
      stream.appendMany(['a', 'b']);
      first.close();
      expect(stream.end).toBeUndefined();
      expect(stream.signal.aborted).toBe(false);
      second.close();
      expect(stream.end?.reason).toBe('cancelled');
      expect(stream.end?.failure?.code).toBe(StatusCode.CANCELLED);
      expect(stream.end?.usage.completionTokens).toBe(2);
      expect(stream.signal.aborted).toBe(true);
      expect(stream.signal.reason).toBeInstanceOf(StreamFailure);
      expect((stream.signal.reason as StreamFailure).code).toBe(StatusCode.CANCELLED);
    });

    it('leaves a stream that already ended as it ended', () => {
      const stream = newStream({ abandonPolicy: 'cancel' });
      const reader = stream.openReader(0);
      stream.append('a');
      stream.finish('stop');
      reader.close();
      expect(stream.end?.reason).toBe('stop');
      expect(stream.end?.failure).toBeUndefined();
      expect(stream.signal.aborted).toBe(false);
    });
  });

  describe("'grace'", () => {
    it('cancels with CANCELLED exactly resumeGraceMs after the last reader leaves, and the producer may go on meanwhile', () => {
      const stream = newStream({ abandonPolicy: 'grace', resumeGraceMs, windowTokens: 2 });
      stream.openReader(0).close();
      jest.advanceTimersByTime(resumeGraceMs - 1);
      expect(stream.end).toBeUndefined();
      expect(stream.append('a')).toBeUndefined();
      expect(stream.append('b')).toBeUndefined();
      expect(stream.append('c')).toBeUndefined();
      jest.advanceTimersByTime(1);
      expect(stream.end?.reason).toBe('cancelled');
      expect(stream.end?.failure?.code).toBe(StatusCode.CANCELLED);
      expect(stream.signal.aborted).toBe(true);
      expect((stream.signal.reason as StreamFailure).code).toBe(StatusCode.CANCELLED);
      // What was produced during the grace period is still readable.
      expect(plain(stream.openReader(0).read())).toEqual({ seq: 0, tokens: ['a', 'b', 'c'] });
    });

    it('a reader that re-attaches within the grace period keeps the stream alive', () => {
      const stream = newStream({ abandonPolicy: 'grace', resumeGraceMs });
      stream.openReader(0).close();
      jest.advanceTimersByTime(resumeGraceMs - 1);
      const resumed = stream.openReader(0);
      jest.advanceTimersByTime(resumeGraceMs * 10);
      expect(stream.end).toBeUndefined();
      expect(stream.signal.aborted).toBe(false);
      stream.append('a');
      expect(plain(resumed.read())).toEqual({ seq: 0, tokens: ['a'] });
    });

    it('when the re-attached reader leaves too, a fresh grace period starts', () => {
      const stream = newStream({ abandonPolicy: 'grace', resumeGraceMs });
      stream.openReader(0).close();
      jest.advanceTimersByTime(resumeGraceMs / 2);
      const resumed = stream.openReader(0);
      jest.advanceTimersByTime(resumeGraceMs / 2);
      resumed.close();
      jest.advanceTimersByTime(resumeGraceMs - 1);
      expect(stream.end).toBeUndefined();
      jest.advanceTimersByTime(1);
      expect(stream.end?.failure?.code).toBe(StatusCode.CANCELLED);
    });

    it('a stream that finishes during the grace period keeps its normal end', () => {
      const stream = newStream({ abandonPolicy: 'grace', resumeGraceMs });
      stream.openReader(0).close();
      stream.append('a');
      stream.finish('stop');
      jest.advanceTimersByTime(resumeGraceMs * 2);
      expect(stream.end?.reason).toBe('stop');
      expect(stream.end?.failure).toBeUndefined();
      expect(stream.signal.aborted).toBe(false);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('no timer starts while a reader remains', () => {
      const stream = newStream({ abandonPolicy: 'grace', resumeGraceMs });
      const staying = stream.openReader(0);
      stream.openReader(0).close();
      jest.advanceTimersByTime(resumeGraceMs * 2);
      expect(stream.end).toBeUndefined();
      expect(staying.atEnd).toBe(false);
    });
  });

  describe("'keep'", () => {
    it('never ends the stream when readers leave; its producer decides', () => {
      const stream = newStream({ abandonPolicy: 'keep', resumeGraceMs });
      stream.openReader(0).close();
      jest.advanceTimersByTime(resumeGraceMs * 100);
      expect(stream.end).toBeUndefined();
      expect(stream.signal.aborted).toBe(false);
      expect(jest.getTimerCount()).toBe(0);
      stream.append('a');
      expect(stream.finish('stop')).toBe(true);
      expect(stream.end?.reason).toBe('stop');
    });
  });
});
