import { StreamRegistry, type StreamRegistryOptions } from '../../../../src/core/streams/registry';
import { StatusCode, StreamFailure } from '../../../../src/core/streams/status';
import type { StreamEnd, TokenStream } from '../../../../src/core/streams/tokenStream';
import { failureOf, plain } from './support';

const startMs = 1_700_000_000_000;
const retentionMs = 1_000;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('stream registry', () => {
  let registry: StreamRegistry;

  function newRegistry(options: Partial<StreamRegistryOptions> = {}): StreamRegistry {
    registry = new StreamRegistry({
      maxActiveStreams: 3,
      retentionMs,
      maxRetainedStreams: 10,
      maxRetainedBytes: 1_000_000,
      windowTokens: 4,
      resumeGraceMs: 100,
      ...options,
    });
    return registry;
  }

  beforeEach(() => {
    jest.useFakeTimers({ now: startMs });
    newRegistry();
  });
  afterEach(() => {
    registry.close();
    jest.useRealTimers();
  });

  describe('create', () => {
    it('creates a live stream under the given id with the registry and caller options', () => {
      const stream = registry.create({ id: 'job-1', model: 'sim', abandonPolicy: 'keep', promptTokens: 9, fingerprint: 'fp' });
      expect(stream.id).toBe('job-1');
      expect(stream.model).toBe('sim');
      expect(stream.fingerprint).toBe('fp');
      expect(stream.promptTokens).toBe(9);
      expect(stream.end).toBeUndefined();
      expect(registry.activeCount).toBe(1);
      expect(registry.get('job-1')).toBe(stream);
      expect(registry.require('job-1')).toBe(stream);
      // windowTokens comes from the registry: the fourth unread token pauses the producer.
      stream.openReader(0);
      expect(stream.appendMany(['a', 'b', 'c'])).toBeUndefined();
      expect(stream.append('d')).toBeDefined();
    });

    it('passes the abandon policy and resumeGraceMs to the stream', () => {
      const cancelling = registry.create({ model: 'sim', abandonPolicy: 'cancel' });
      cancelling.openReader(0).close();
      expect(cancelling.end?.failure?.code).toBe(StatusCode.CANCELLED);

      const graceful = registry.create({ model: 'sim', abandonPolicy: 'grace' });
      graceful.openReader(0).close();
      jest.advanceTimersByTime(99);
      expect(graceful.end).toBeUndefined();
      jest.advanceTimersByTime(1);
      expect(graceful.end?.failure?.code).toBe(StatusCode.CANCELLED);
    });

    it('makes a fresh id when none (or an empty one) is given', () => {
      const first = registry.create({ model: 'sim', abandonPolicy: 'keep' });
      const second = registry.create({ id: '', model: 'sim', abandonPolicy: 'keep' });
      expect(first.id).toMatch(uuid);
      expect(second.id).toMatch(uuid);
      expect(second.id).not.toBe(first.id);
      expect(registry.get(first.id)).toBe(first);
      expect(registry.get(second.id)).toBe(second);
    });

    it('a live stream with the same id is ALREADY_EXISTS and stays the registered one', () => {
      const original = registry.create({ id: 'dup', model: 'sim', abandonPolicy: 'keep' });
      const failure = failureOf(() => registry.create({ id: 'dup', model: 'other', abandonPolicy: 'keep' }));
      expect(failure.code).toBe(StatusCode.ALREADY_EXISTS);
      expect(registry.get('dup')).toBe(original);
      expect(registry.activeCount).toBe(1);
    });

    it.each([
      ['finished', (stream: TokenStream) => stream.finish('stop')],
      ['failed', (stream: TokenStream) => stream.fail(new StreamFailure(StatusCode.INTERNAL, 'boom'))],
    ])('the id of a %s stream can be used again for a new live stream', (_state, end) => {
      const old = registry.create({ id: 'again', model: 'sim', abandonPolicy: 'keep' });
      old.appendMany(['a', 'b']);
      end(old);
      expect(registry.get('again')).toBe(old);
      const fresh = registry.create({ id: 'again', model: 'sim', abandonPolicy: 'keep' });
      expect(fresh).not.toBe(old);
      expect(fresh.nextSeq).toBe(0);
      expect(fresh.end).toBeUndefined();
      expect(registry.get('again')).toBe(fresh);
      expect(registry.activeCount).toBe(1);
      expect(registry.retainedCount).toBe(0);
      // When the new one ends, it is the one retained.
      fresh.finish('length');
      expect(registry.require('again')).toBe(fresh);
    });

    it('one stream over maxActiveStreams is RESOURCE_EXHAUSTED; a finished stream frees its place', () => {
      const streams = [1, 2, 3].map((n) => registry.create({ id: `s${n}`, model: 'sim', abandonPolicy: 'keep' }));
      const failure = failureOf(() => registry.create({ id: 's4', model: 'sim', abandonPolicy: 'keep' }));
      expect(failure.code).toBe(StatusCode.RESOURCE_EXHAUSTED);
      expect(registry.get('s4')).toBeUndefined();
      expect(registry.activeCount).toBe(3);
      streams[1].finish('stop');
      expect(registry.activeCount).toBe(2);
      expect(registry.retainedCount).toBe(1);
      expect(registry.create({ id: 's4', model: 'sim', abandonPolicy: 'keep' }).id).toBe('s4');
      expect(registry.activeCount).toBe(3);
    });
  });

  describe('require', () => {
    it('an unknown id is NOT_FOUND, naming the field', () => {
      const failure = failureOf(() => registry.require('missing'));
      expect(failure.code).toBe(StatusCode.NOT_FOUND);
      expect(failure.message).toBe('stream_id: no stream with id "missing"');
      expect(failureOf(() => registry.require('missing', 'resume.stream_id')).message).toMatch(/^resume\.stream_id: /);
      expect(registry.get('missing')).toBeUndefined();
    });
  });

  describe('retention', () => {
    it('keeps a finished stream readable for retentionMs, then sweep(nowMs) drops it', () => {
      const stream = registry.create({ id: 'kept', model: 'sim', abandonPolicy: 'keep' });
      stream.appendMany(['a', 'b', 'c']);
      stream.finish('stop');
      expect(registry.activeCount).toBe(0);
      expect(registry.retainedCount).toBe(1);
      registry.sweep(startMs + retentionMs - 1);
      expect(registry.retainedCount).toBe(1);
      expect(plain(registry.require('kept').openReader(1).read())).toEqual({ seq: 1, tokens: ['b', 'c'] });
      registry.sweep(startMs + retentionMs);
      expect(registry.retainedCount).toBe(0);
      expect(failureOf(() => registry.require('kept')).code).toBe(StatusCode.NOT_FOUND);
    });

    it('sweep drops only the streams whose retention has run out', () => {
      registry.create({ id: 'early', model: 'sim', abandonPolicy: 'keep' }).finish('stop');
      jest.setSystemTime(startMs + 400);
      registry.create({ id: 'late', model: 'sim', abandonPolicy: 'keep' }).finish('stop');
      registry.sweep(startMs + retentionMs);
      expect(registry.retainedCount).toBe(1);
      expect(registry.get('early')).toBeUndefined();
      expect(registry.get('late')?.id).toBe('late');
    });

    it('get does not return a retained stream past its retention, even before a sweep', () => {
      registry.create({ id: 'stale', model: 'sim', abandonPolicy: 'keep' }).finish('stop');
      registry.close(); // no periodic sweep
      jest.setSystemTime(startMs + retentionMs - 1);
      expect(registry.get('stale')?.id).toBe('stale');
      jest.setSystemTime(startMs + retentionMs);
      expect(registry.get('stale')).toBeUndefined();
      expect(failureOf(() => registry.require('stale')).code).toBe(StatusCode.NOT_FOUND);
    });

    it('a periodic sweep drops expired streams on its own until close() stops it', () => {
      registry.create({ id: 'a', model: 'sim', abandonPolicy: 'keep' }).finish('stop');
      jest.advanceTimersByTime(retentionMs);
      expect(registry.retainedCount).toBe(0);

      registry.create({ id: 'b', model: 'sim', abandonPolicy: 'keep' }).finish('stop');
      registry.close();
      jest.advanceTimersByTime(retentionMs * 5);
      expect(registry.retainedCount).toBe(1);
      registry.sweep();
      expect(registry.retainedCount).toBe(0);
    });

    it('keeps at most maxRetainedStreams, dropping the one that finished first', () => {
      newRegistry({ maxRetainedStreams: 2 });
      const [a, b, c] = ['a', 'b', 'c'].map((id) => registry.create({ id, model: 'sim', abandonPolicy: 'keep' }));
      c.finish('stop');
      a.fail(new StreamFailure(StatusCode.CANCELLED, 'cancelled'));
      expect(registry.retainedCount).toBe(2);
      b.finish('length');
      expect(registry.retainedCount).toBe(2);
      expect(registry.get('c')).toBeUndefined();
      expect(registry.get('a')).toBe(a);
      expect(registry.get('b')).toBe(b);
    });

    it.each([[{ retentionMs: 0 }], [{ maxRetainedStreams: 0 }]])('with %j a finished stream is gone at once', (options) => {
      newRegistry(options);
      registry.create({ id: 'x', model: 'sim', abandonPolicy: 'keep' }).finish('stop');
      expect(registry.retainedCount).toBe(0);
      expect(registry.activeCount).toBe(0);
      expect(failureOf(() => registry.require('x')).code).toBe(StatusCode.NOT_FOUND);
    });
  });

  describe('observers', () => {
    it('every observer hears started on create and ended once with the end', () => {
      const events: Array<[string, string, string, StreamEnd | undefined]> = [];
      registry.observe({
        started: (stream) => events.push(['one', 'started', stream.id, stream.end]),
        ended: (stream, end) => events.push(['one', 'ended', stream.id, end]),
      });
      registry.observe({ ended: (stream, end) => events.push(['two', 'ended', stream.id, end]) });
      registry.observe({});

      const stream = registry.create({ id: 'watched', model: 'sim', abandonPolicy: 'keep' });
      expect(events).toEqual([['one', 'started', 'watched', undefined]]);
      stream.append('a');
      const failure = new StreamFailure(StatusCode.UNAVAILABLE, 'upstream down');
      stream.fail(failure);
      stream.finish('stop');
      const end = { reason: 'error', usage: { promptTokens: 0, completionTokens: 1 }, failure };
      expect(events).toEqual([
        ['one', 'started', 'watched', undefined],
        ['one', 'ended', 'watched', end],
        ['two', 'ended', 'watched', end],
      ]);
    });

    it('a create that is refused starts nothing', () => {
      const started = jest.fn();
      registry.observe({ started });
      registry.create({ id: 'x', model: 'sim', abandonPolicy: 'keep' });
      failureOf(() => registry.create({ id: 'x', model: 'sim', abandonPolicy: 'keep' }));
      expect(started).toHaveBeenCalledTimes(1);
    });
  });

  describe('failAll', () => {
    it('fails every live stream with the failure and leaves finished ones as they ended', () => {
      const done = registry.create({ id: 'done', model: 'sim', abandonPolicy: 'keep' });
      done.finish('stop');
      const live = [
        registry.create({ id: 'l1', model: 'sim', abandonPolicy: 'keep' }),
        registry.create({ id: 'l2', model: 'sim', abandonPolicy: 'grace' }),
      ];
      const ended = jest.fn();
      registry.observe({ ended });

      const failure = new StreamFailure(StatusCode.UNAVAILABLE, 'server shutting down');
      registry.failAll(failure);

      for (const stream of live) {
        expect(stream.end?.reason).toBe('error');
        expect(stream.end?.failure).toBe(failure);
        expect(stream.signal.reason).toBe(failure);
      }
      expect(ended).toHaveBeenCalledTimes(2);
      expect(done.end?.reason).toBe('stop');
      expect(registry.activeCount).toBe(0);
      expect(registry.retainedCount).toBe(3);
      expect(registry.get('l1')).toBe(live[0]);
    });
  });
});
