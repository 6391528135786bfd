import { Metadata, status } from '@grpc/grpc-js';
import { parseConfig } from '../../src/core/config';
import { FinishReason, TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { aborted, paced, ScriptedModel, sleep } from '../helpers/models';
import { collect, expectContiguous, request, startTestServer, type TestServer, waitFor } from '../helpers/server';

/** Call options with a deadline ms from now. */
function deadlineIn(ms: number) {
  return { deadline: Date.now() + ms };
}

/** The promise's value, or a failure naming what did not happen within ms (so a missing status fails, not hangs). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for the stream to end and checks that nothing was appended after that. */
async function expectProducerStopped(t: TestServer, streamId: string): Promise<void> {
  const stream = t.server.registry.get(streamId);
  expect(stream).toBeDefined();
  await waitFor(() => stream?.end !== undefined, 2000, `stream ${streamId} to end`);
  expect(stream?.signal.aborted).toBe(true);
  const stored = stream?.nextSeq;
  await sleep(150);
  expect(stream?.nextSeq).toBe(stored);
}

describe('a client deadline', () => {
  let t: TestServer;
  beforeAll(async () => (t = await startTestServer()));
  afterAll(() => t.close());

  it('that passes mid-stream ends a Generate with DEADLINE_EXCEEDED and aborts its producer', async () => {
    const call = t.client.generate(
      request({ model: 'slow', prompt: 'x', maxTokens: 1000, streamId: 'dl-mid' }),
      new Metadata(),
      deadlineIn(400),
    );
    const { tokens, chunks, error } = await collect(call);
    expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(tokens.length).toBeGreaterThan(0); // it was mid-stream
    expect(tokens.length).toBeLessThan(1000);
    expectContiguous(chunks);
    await expectProducerStopped(t, 'dl-mid');
    const stream = t.server.registry.get('dl-mid');
    expect(stream?.end?.reason).toBe('error');
    expect(stream?.end?.failure?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(stream?.end?.failure?.message).toMatch(/^deadline exceeded after \d+ ms; the producer was stopped$/);
  });

  it('that passes ends that Subscribe with DEADLINE_EXCEEDED, while the producer goes on for the others', async () => {
    const generation = collect(t.client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 40, streamId: 'dl-followed' })));
    await waitFor(() => (t.server.registry.get('dl-followed')?.nextSeq ?? 0) >= 2, 2000, 'two tokens');
    const subscriber = await collect(t.client.subscribe({ streamId: 'dl-followed', fromSeq: 0 }, new Metadata(), deadlineIn(250)));
    expect(subscriber.error?.code).toBe(status.DEADLINE_EXCEEDED);
    const stream = t.server.registry.get('dl-followed');
    expect(stream?.end).toBeUndefined(); // still producing after the subscriber's deadline
    expect(stream?.signal.aborted).toBe(false);
    const { tokens, chunks, error } = await generation;
    expect(error).toBeUndefined();
    expect(tokens).toHaveLength(40);
    expectContiguous(chunks);
    expect(chunks[chunks.length - 1].finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
    expect(stream?.end?.reason).toBe('length');
    expect(subscriber.tokens.length).toBeLessThan(40);
    expect(subscriber.tokens).toEqual(tokens.slice(0, subscriber.tokens.length));
  });

  it('already expired gets DEADLINE_EXCEEDED and starts no producer', async () => {
    const counter = new ScriptedModel('dl-counter', paced(['a', 'b', 'c'], 0));
    t.server.models.register(counter);
    // Warm the connection, so the calls below reach the server rather than expiring while connecting.
    await collect(t.client.generate(request({ model: 'echo', prompt: 'warm up' })));
    for (let i = 0; i < 5; i++) {
      const { tokens, error } = await collect(
        t.client.generate(request({ model: 'dl-counter', prompt: 'x' }), new Metadata(), { deadline: Date.now() - 1000 }),
      );
      expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
      expect(tokens).toEqual([]);
    }
    await sleep(200);
    expect(counter.starts).toBe(0);
  });
});

describe('a server deadline', () => {
  it('maximum clamps a longer client deadline: DEADLINE_EXCEEDED at the maximum, producer stopped', async () => {
    const t = await startTestServer({ deadlines: { Generate: { maxMs: 300 } } });
    try {
      const started = Date.now();
      const call = t.client.generate(
        request({ model: 'slow', prompt: 'x', maxTokens: 1000, streamId: 'dl-max' }),
        new Metadata(),
        deadlineIn(10_000),
      );
      const { tokens, chunks, error } = await collect(call);
      const elapsed = Date.now() - started;
      expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
      expect(error?.details).toMatch(/^deadline exceeded after \d+ ms; the producer was stopped$/);
      expect(elapsed).toBeGreaterThanOrEqual(280);
      expect(elapsed).toBeLessThan(5000); // the maximum, not the client's 10 s
      expect(tokens.length).toBeGreaterThan(0);
      expectContiguous(chunks);
      await expectProducerStopped(t, 'dl-max');
      expect(t.server.registry.get('dl-max')?.end?.failure?.code).toBe(status.DEADLINE_EXCEEDED);
    } finally {
      await t.close();
    }
  });

  it('default applies to a call that sets none', async () => {
    const t = await startTestServer({ deadlines: { Generate: { defaultMs: 300 } } });
    try {
      const started = Date.now();
      const { tokens, error } = await collect(
        t.client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 1000, streamId: 'dl-default' })),
      );
      const elapsed = Date.now() - started;
      expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
      expect(error?.details).toMatch(/^deadline exceeded after \d+ ms; the producer was stopped$/);
      expect(elapsed).toBeGreaterThanOrEqual(280);
      expect(elapsed).toBeLessThan(5000);
      expect(tokens.length).toBeGreaterThan(0);
      await expectProducerStopped(t, 'dl-default');
      expect(t.server.registry.get('dl-default')?.end?.failure?.code).toBe(status.DEADLINE_EXCEEDED);
      // A call that finishes within the default is untouched.
      const quick = await collect(t.client.generate(request({ model: 'echo', prompt: 'in time' })));
      expect(quick.error).toBeUndefined();
      expect(quick.tokens.join('')).toBe('in time');
    } finally {
      await t.close();
    }
  });
});

describe('a server deadline on Subscribe', () => {
  it('ends that subscriber with DEADLINE_EXCEEDED; the producer goes on and the server keeps serving', async () => {
    // No client deadline: the server's own timer ends the call (the client cannot beat it with a cancel).
    const t = await startTestServer({ deadlines: { Subscribe: { defaultMs: 250 } } });
    try {
      const generation = collect(t.client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 40, streamId: 'sub-default' })));
      await waitFor(() => (t.server.registry.get('sub-default')?.nextSeq ?? 0) >= 2, 2000, 'two tokens');
      const subscriber = await within(collect(t.client.subscribe({ streamId: 'sub-default', fromSeq: 0 })), 3000, 'subscriber status');
      expect(subscriber.error?.code).toBe(status.DEADLINE_EXCEEDED);
      expect(subscriber.error?.details).toMatch(/^deadline exceeded after \d+ ms$/); // not "the producer was stopped"
      const { tokens, error } = await within(generation, 3000, 'end of the generation');
      expect(error).toBeUndefined();
      expect(tokens).toHaveLength(40);
      expect(subscriber.tokens).toEqual(tokens.slice(0, subscriber.tokens.length));
      const after = await within(collect(t.client.generate(request({ model: 'echo', prompt: 'still here' }))), 3000, 'a later call');
      expect(after.tokens.join('')).toBe('still here');
    } finally {
      await t.close();
    }
  });
});

describe('a server deadline on Publish', () => {
  it('by default an hour; a publisher that sets none and stalls is ended with DEADLINE_EXCEEDED, its tokens kept', async () => {
    expect(parseConfig({}).deadlines.Publish).toEqual({ defaultMs: 3_600_000, maxMs: 0 });
    const t = await startTestServer({ deadlines: { Publish: { defaultMs: 300 } } });
    try {
      const ended = new Promise<{ code?: number; details?: string }>((resolve) => {
        const call = t.client.publish((error) => resolve(error ?? {}));
        call.write({ open: { streamId: 'stuck-publisher', model: 'external', resumable: false } });
        call.write({ chunk: TokenChunk.fromPartial({ seq: 0, tokens: ['kept', ' tokens'] }) });
        // ...and never half-closes.
      });
      const error = await within(ended, 3000, 'the publisher status');
      expect(error.code).toBe(status.DEADLINE_EXCEEDED);
      const read = await within(collect(t.client.subscribe({ streamId: 'stuck-publisher', fromSeq: 0 })), 3000, 'the subscriber');
      expect(read.tokens).toEqual(['kept', ' tokens']);
      const after = await within(collect(t.client.generate(request({ model: 'echo', prompt: 'still here' }))), 3000, 'a later call');
      expect(after.tokens.join('')).toBe('still here');
    } finally {
      await t.close();
    }
  });
});

describe('pace limits', () => {
  let t: TestServer;
  beforeAll(async () => (t = await startTestServer({ streams: { windowTokens: 32 }, limits: { maxTokens: 50_000 } })));
  afterAll(() => t.close());

  it('ttft_timeout_ms breached by a model that never produces: DEADLINE_EXCEEDED naming the limit, producer aborted', async () => {
    const silent = new ScriptedModel('never', async (_sink, signal) => {
      await aborted(signal);
      throw signal.reason;
    });
    t.server.models.register(silent);
    const { tokens, error } = await collect(
      t.client.generate(request({ model: 'never', prompt: 'x', streamId: 'ttft', ttftTimeoutMs: 200 })),
    );
    expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(error?.details).toMatch(/^ttft_timeout_ms:/);
    expect(error?.details).toBe('ttft_timeout_ms: no first token within 200 ms; the producer was stopped');
    expect(tokens).toEqual([]);
    expect(silent.starts).toBe(1);
    expect(silent.signals[0].aborted).toBe(true);
    expect(t.server.registry.get('ttft')?.end?.failure?.code).toBe(status.DEADLINE_EXCEEDED);
  });

  it('idle_timeout_ms breached by a model that stalls after 3 tokens: the 3 tokens, then DEADLINE_EXCEEDED naming the limit', async () => {
    const stalling = new ScriptedModel('stall-after-3', async (sink, signal) => {
      for (const token of ['one', ' two', ' three']) await sink.append(token);
      await aborted(signal);
      throw signal.reason;
    });
    t.server.models.register(stalling);
    // Only the idle limit is set: the time-to-first-token limit stays at its 60 s default.
    const call = t.client.generate(request({ model: 'stall-after-3', prompt: 'x', streamId: 'idle', idleTimeoutMs: 200 }));
    const { tokens, chunks, error } = await within(collect(call), 3000, 'status from the stalled stream').finally(() => call.cancel());
    expect(tokens).toEqual(['one', ' two', ' three']);
    expectContiguous(chunks);
    expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(error?.details).toMatch(/^idle_timeout_ms:/);
    expect(error?.details).toBe('idle_timeout_ms: no token for 200 ms after token 2; the producer was stopped');
    expect(stalling.signals[0].aborted).toBe(true);
    expect(stalling.appended).toBe(3);
  });

  it('a slow consumer (backpressure pause) does not trip the idle limit: the stream completes', async () => {
    const total = 40_000;
    const call = t.client.generate(
      request({ model: 'sim', prompt: 'x', maxTokens: total, streamId: 'idle-backpressure', idleTimeoutMs: 150 }),
    );
    const result = collect(call);
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    call.pause();
    const stream = t.server.registry.get('idle-backpressure');
    await waitFor(() => stream?.producerPaused === true, 5000, 'the producer to be paused');
    await sleep(600); // four idle limits with the consumer not reading
    expect(stream?.end).toBeUndefined();
    expect(stream?.producerPaused).toBe(true);
    call.resume();
    const { tokens, chunks, error } = await result;
    expect(error).toBeUndefined();
    expect(tokens).toHaveLength(total);
    expectContiguous(chunks);
    expect(chunks[chunks.length - 1].finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
    expect(stream?.end?.reason).toBe('length');
  });
});
