import { StatusCode, StreamFailure } from '../../src/core/streams/status';
import type { StreamReader, StreamStore, StreamWriter } from '../../src/core/streams/store';
import type { StreamEnd } from '../../src/core/streams/tokenStream';
import { waitFor } from '../helpers/server';

/** The sizes every store takes. */
export interface ContractOptions {
  maxActiveStreams: number;
  retentionMs: number;
  maxRetainedStreams: number;
  maxRetainedBytes: number;
  windowTokens: number;
  resumeGraceMs: number;
}

export const CONTRACT_DEFAULTS: ContractOptions = {
  maxActiveStreams: 100,
  retentionMs: 60_000,
  maxRetainedStreams: 100,
  maxRetainedBytes: 1_000_000,
  windowTokens: 1024,
  resumeGraceMs: 200,
};

/** Makes a store for one test; the suite closes it. */
export type StoreFactory = (options: ContractOptions) => Promise<StreamStore>;

/** Reads a reader to the end of its stream: every batch, in order, then the end. */
export async function readToEnd(reader: StreamReader): Promise<{ seqs: number[]; tokens: string[]; end: StreamEnd }> {
  const seqs: number[] = [];
  const tokens: string[] = [];
  for (;;) {
    const batch = reader.read();
    if (batch) {
      seqs.push(batch.seq);
      tokens.push(...batch.tokens);
      continue;
    }
    if (reader.atEnd) return { seqs, tokens, end: reader.stream.end as StreamEnd };
    await reader.wait();
  }
}

function expectFailure(error: unknown, code: StatusCode, message?: RegExp): void {
  expect(error).toBeInstanceOf(StreamFailure);
  expect((error as StreamFailure).code).toBe(code);
  if (message) expect((error as StreamFailure).message).toMatch(message);
}

async function settled(writer: StreamWriter): Promise<StreamEnd> {
  return new Promise((resolve) => writer.onEnd(resolve));
}

const ids = { next: 0 };
const freshId = () => `contract-${process.pid}-${++ids.next}`;

/**
 * The contract both stores pass, through the StreamStore interface only: seq
 * from 0, append-only, ended once, readers from any seq (past the live end
 * they wait), retention by time and by count, the backpressure window,
 * cancel from the store, the abandon policies, and resumable publishers.
 */
export function describeStreamStoreContract(name: string, factory: StoreFactory): void {
  describe(`the ${name} store's contract`, () => {
    const opened: StreamStore[] = [];
    const make = async (options: Partial<ContractOptions> = {}) => {
      const store = await factory({ ...CONTRACT_DEFAULTS, ...options });
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      for (const store of opened.splice(0)) {
        store.failAll(new StreamFailure(StatusCode.UNAVAILABLE, 'test over'));
        await store.close();
      }
    });

    it('numbers tokens from 0, keeps them in order, and ends once', async () => {
      const store = await make();
      const writer = await store.create({ id: freshId(), model: 'm', abandonPolicy: 'keep', promptTokens: 3 });
      expect(writer.nextSeq).toBe(0);
      const reader = writer.view.openReader(0);
      writer.appendMany(['a', 'b', 'c']);
      writer.append('d');
      expect(writer.nextSeq).toBe(4);
      expect(writer.finish('length')).toBe(true);
      expect(writer.finish('stop')).toBe(false);
      expect(writer.fail(new StreamFailure(StatusCode.INTERNAL, 'late'))).toBe(false);
      const { tokens, seqs, end } = await readToEnd(reader);
      expect(tokens).toEqual(['a', 'b', 'c', 'd']);
      expect(seqs[0]).toBe(0);
      expect(end).toEqual({ reason: 'length', usage: { promptTokens: 3, completionTokens: 4 } });
      reader.close();
      const seen: StreamEnd[] = [];
      writer.onEnd((settledEnd) => seen.push(settledEnd));
      expect(seen).toEqual([end]);
    });

    it('counts a prompt given as a counter once, at the end (never at creation or while appending), and reports the count in the end', async () => {
      const store = await make();
      let counted = 0;
      const writer = await store.create({
        id: freshId(),
        model: 'm',
        abandonPolicy: 'keep',
        countPromptTokens: () => {
          counted++;
          return 11;
        },
      });
      const reader = writer.view.openReader(0);
      writer.appendMany(['a', 'b']);
      await reader.wait(); // the tokens are readable (on redis: stored)
      expect(counted).toBe(0);
      writer.finish('stop');
      const { tokens, end } = await readToEnd(reader);
      expect(tokens).toEqual(['a', 'b']);
      expect(end).toEqual({ reason: 'stop', usage: { promptTokens: 11, completionTokens: 2 } });
      expect(counted).toBe(1);
      reader.close();
    });

    it('a stream created without an id gets a fresh one, and its first tokens and end reach a reader opened at once', async () => {
      const store = await make();
      const writer = await store.create({ model: 'm', abandonPolicy: 'keep' });
      expect(writer.id).toMatch(/^[0-9a-f-]{36}$/);
      const reader = writer.view.openReader(0);
      writer.appendMany(['a', 'b']);
      writer.append('c');
      writer.finish('stop');
      const { tokens, seqs, end } = await readToEnd(reader);
      expect(tokens).toEqual(['a', 'b', 'c']);
      expect(seqs[0]).toBe(0);
      expect(end).toEqual({ reason: 'stop', usage: { promptTokens: 0, completionTokens: 3 } });
      expect((await store.find(writer.id))?.end).toEqual(end);
      reader.close();
    });

    it('readers start at any seq: the middle, exactly the end, and past the end of a finished stream is OUT_OF_RANGE', async () => {
      const store = await make();
      const id = freshId();
      const writer = await store.create({ id, model: 'm', abandonPolicy: 'keep' });
      writer.appendMany(['t0', 't1', 't2', 't3', 't4']);
      writer.finish('stop');
      await settled(writer);
      const view = await store.find(id);
      expect(view?.nextSeq).toBe(5);
      expect(view?.end?.reason).toBe('stop');
      const middle = await readToEnd(view!.openReader(2));
      expect(middle.tokens).toEqual(['t2', 't3', 't4']);
      expect(middle.seqs[0]).toBe(2);
      const atEnd = await readToEnd(view!.openReader(5));
      expect(atEnd.tokens).toEqual([]);
      expect(atEnd.end.reason).toBe('stop');
      let error: unknown;
      try {
        view!.openReader(6);
      } catch (thrown) {
        error = thrown;
      }
      expectFailure(
        error,
        StatusCode.OUT_OF_RANGE,
        new RegExp(`^from_seq: 6 is past the end of finished stream ${id}, which has 5 tokens$`),
      );
    });

    it('a reader past the current end of a live stream waits for that token', async () => {
      const store = await make();
      const id = freshId();
      const writer = await store.create({ id, model: 'm', abandonPolicy: 'keep' });
      writer.appendMany(['a', 'b']);
      const view = await store.find(id);
      const reader = view!.openReader(4);
      const result = readToEnd(reader);
      await new Promise((resolve) => setTimeout(resolve, 50));
      writer.appendMany(['c', 'd', 'e', 'f']);
      writer.finish('stop');
      const { tokens, seqs } = await result;
      expect(tokens).toEqual(['e', 'f']);
      expect(seqs[0]).toBe(4);
    });

    it('finds nothing for an unknown id; a live id is ALREADY_EXISTS; a finished one too, unless replaced', async () => {
      const store = await make();
      expect(await store.find(freshId())).toBeUndefined();
      const id = freshId();
      const first = await store.create({ id, model: 'm', abandonPolicy: 'keep' });
      await expect(store.create({ id, model: 'm', abandonPolicy: 'keep' })).rejects.toMatchObject({ code: StatusCode.ALREADY_EXISTS });
      first.append('x');
      first.finish('stop');
      await settled(first);
      await expect(store.create({ id, model: 'm', abandonPolicy: 'keep' })).rejects.toMatchObject({ code: StatusCode.ALREADY_EXISTS });
      const second = await store.create({ id, model: 'other', abandonPolicy: 'keep', replaceFinished: true });
      expect(second.nextSeq).toBe(0);
      second.appendMany(['y', 'z']);
      second.finish('stop');
      await settled(second);
      const { tokens } = await readToEnd((await store.find(id))!.openReader(0));
      expect(tokens).toEqual(['y', 'z']);
    });

    it('retention by time: a finished stream is gone after retentionMs', async () => {
      const store = await make({ retentionMs: 1000 });
      const id = freshId();
      const writer = await store.create({ id, model: 'm', abandonPolicy: 'keep' });
      writer.finish('stop');
      await settled(writer);
      expect(await store.find(id)).toBeDefined();
      await new Promise((resolve) => setTimeout(resolve, 1300));
      expect(await store.find(id)).toBeUndefined();
    });

    it('retention by count: past maxRetainedStreams the oldest finished stream goes first', async () => {
      const store = await make({ maxRetainedStreams: 2 });
      const streamIds = [freshId(), freshId(), freshId()];
      for (const id of streamIds) {
        const writer = await store.create({ id, model: 'm', abandonPolicy: 'keep' });
        writer.finish('stop');
        await settled(writer);
      }
      await waitFor(() => true, 10);
      let found: boolean[] = [];
      const deadline = Date.now() + 2000;
      do {
        found = await Promise.all(streamIds.map(async (id) => (await store.find(id)) !== undefined));
      } while (found[0] && Date.now() < deadline);
      expect(found).toEqual([false, true, true]);
    });

    it('backpressure: the producer waits while its slowest reader is a window behind, and goes on when it reads', async () => {
      const store = await make({ windowTokens: 8 });
      const writer = await store.create({ id: freshId(), model: 'm', abandonPolicy: 'keep' });
      const reader = writer.view.openReader(0);
      let wait: Promise<void> | undefined;
      let appended = 0;
      while (!wait) {
        wait = writer.append(`t${appended}`);
        appended++;
        expect(appended).toBeLessThanOrEqual(8);
      }
      expect(appended).toBe(8);
      expect(writer.room).toBe(0);
      let released = false;
      void wait.then(() => (released = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(released).toBe(false);
      await waitFor(() => reader.read(3) !== undefined || reader.isClosed, 2000, 'the first tokens to be readable');
      await waitFor(() => released, 2000, 'the producer to be let go');
      reader.close();
    });

    it('stop ends a live stream wherever it is produced: the producer is aborted, readers see CANCELLED after the stored tokens', async () => {
      const store = await make();
      const id = freshId();
      const writer = await store.create({ id, model: 'm', abandonPolicy: 'keep' });
      writer.appendMany(['a', 'b']);
      const reader = writer.view.openReader(0);
      await waitFor(() => reader.read() !== undefined, 2000, 'the stored tokens');
      expect(await store.stop(id, new StreamFailure(StatusCode.CANCELLED, 'stopped by the test'))).toBe(true);
      await waitFor(() => writer.signal.aborted, 2000, 'the producer to be aborted');
      const { end } = await readToEnd(reader);
      expect(end.reason).toBe('cancelled');
      expect(end.failure?.code).toBe(StatusCode.CANCELLED);
      expect(await store.stop(id, new StreamFailure(StatusCode.CANCELLED, 'again'))).toBe(false);
      await expect(store.stop(freshId(), new StreamFailure(StatusCode.CANCELLED, 'x'))).rejects.toMatchObject({
        code: StatusCode.NOT_FOUND,
      });
    });

    it('abandon "cancel": the stream is cancelled when its last reader leaves', async () => {
      const store = await make();
      const writer = await store.create({ id: freshId(), model: 'm', abandonPolicy: 'cancel' });
      const reader = writer.view.openReader(0);
      await new Promise((resolve) => setTimeout(resolve, 20));
      reader.close();
      const end = await settled(writer);
      expect(end.failure?.code).toBe(StatusCode.CANCELLED);
      expect(end.failure?.message).toMatch(/its last consumer went away/);
    });

    it('abandon "grace": the stream goes on for resumeGraceMs, survives a reader coming back, then is cancelled', async () => {
      const store = await make({ resumeGraceMs: 300 });
      const id = freshId();
      const writer = await store.create({ id, model: 'm', abandonPolicy: 'grace' });
      writer.view.openReader(0).close();
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(writer.end).toBeUndefined();
      const back = (await store.find(id))!.openReader(0);
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(writer.end).toBeUndefined();
      back.close();
      const end = await settled(writer);
      expect(end.failure?.message).toMatch(/no consumer re-attached within 300 ms/);
    });

    it('a resumable published stream waits for its producer to come back, which continues from the stored next seq', async () => {
      const store = await make({ resumeGraceMs: 2000 });
      const id = freshId();
      const first = await store.create({ id, model: 'worker', abandonPolicy: 'keep', publishedResumable: true });
      first.appendMany(['a', 'b', 'c']);
      await waitFor(() => true, 10);
      await expect(store.reopen(id)).rejects.toMatchObject({ code: StatusCode.ALREADY_EXISTS });
      first.detach();
      let second: StreamWriter | undefined;
      await waitFor(() => true, 10);
      for (let attempt = 0; attempt < 50 && !second; attempt++) {
        second = await store.reopen(id).catch(() => undefined);
        if (!second) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(second?.nextSeq).toBe(3);
      second!.appendMany(['d']);
      second!.finish('stop');
      await settled(second!);
      const { tokens } = await readToEnd((await store.find(id))!.openReader(0));
      expect(tokens).toEqual(['a', 'b', 'c', 'd']);
    });

    it('a resumable published stream whose producer does not come back fails with UNAVAILABLE after its grace', async () => {
      const store = await make({ resumeGraceMs: 200 });
      const writer = await store.create({ id: freshId(), model: 'worker', abandonPolicy: 'keep', publishedResumable: true });
      writer.append('a');
      writer.detach();
      const end = await settled(writer);
      expect(end.failure?.code).toBe(StatusCode.UNAVAILABLE);
      expect(end.failure?.message).toMatch(/did not resume within 200 ms/);
    });

    it('counts the streams it produces, refuses one past maxActiveStreams, and failAll ends them', async () => {
      const store = await make({ maxActiveStreams: 2 });
      const writers = [
        await store.create({ model: 'm', abandonPolicy: 'keep' }),
        await store.create({ model: 'm', abandonPolicy: 'keep' }),
      ];
      expect(store.activeCount).toBe(2);
      await expect(store.create({ model: 'm', abandonPolicy: 'keep' })).rejects.toMatchObject({ code: StatusCode.RESOURCE_EXHAUSTED });
      store.failAll(new StreamFailure(StatusCode.UNAVAILABLE, 'shutting down'));
      const ends = await Promise.all(writers.map(settled));
      expect(ends.map((end) => end.failure?.code)).toEqual([StatusCode.UNAVAILABLE, StatusCode.UNAVAILABLE]);
      await waitFor(() => store.activeCount === 0, 2000, 'no active streams');
    });
  });
}
