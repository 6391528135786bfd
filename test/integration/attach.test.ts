import { status } from '@grpc/grpc-js';
import { FinishReason } from '../../src/gen/tokenrelay/v1/data_service';
import { paced, ScriptedModel } from '../helpers/models';
import { collect, expectContiguous, request, startTestServer, TEST_MODELS, type TestServer, waitFor } from '../helpers/server';
import { parseConfig } from '../../src/core/config';
import { validateGenerate } from '../../src/core/validate';

/** The test server's limits and timeouts (its config is the default one). */
const CONFIG = parseConfig({ models: TEST_MODELS, defaultModel: 'sim' });

const TOKENS = ['A', ' retried', ' request', ' must', ' not', ' pay', ' twice', ' for', ' one', ' answer'];

let t: TestServer;
let model: ScriptedModel;
beforeAll(async () => {
  t = await startTestServer();
  model = new ScriptedModel('counted', paced(TOKENS, 30));
  t.server.models.register(model);
});
afterAll(() => t.close());

/** The same request each time: what a client retrying after a lost response sends. */
function retryable(streamId: string, extra: Partial<Parameters<typeof request>[0]> = {}) {
  return request({ model: 'counted', prompt: 'the same prompt', maxTokens: 100, seed: 7, streamId, ...extra });
}

describe('attach', () => {
  it('a retried Generate with the same stream_id and request attaches: the model runs once, both callers get the same tokens', async () => {
    const starts = model.starts;
    const first = collect(t.client.generate(retryable('attach-live')));
    await waitFor(() => (t.server.registry.get('attach-live')?.nextSeq ?? 0) >= 3, 2000, 'three tokens');
    const stream = t.server.registry.get('attach-live');
    const second = collect(t.client.generate(retryable('attach-live')));
    await waitFor(() => stream?.readerCount === 2, 2000, 'the retry to attach');
    const [a, b] = await Promise.all([first, second]);
    expect(model.starts).toBe(starts + 1);
    expect(a.error).toBeUndefined();
    expect(b.error).toBeUndefined();
    expect(a.tokens).toEqual(TOKENS);
    expect(b.tokens).toEqual(TOKENS); // from seq 0, including the tokens produced before it attached
    expectContiguous(a.chunks);
    expectContiguous(b.chunks);
    expect(a.chunks[a.chunks.length - 1].finishReason).toBe(FinishReason.FINISH_REASON_STOP);
    expect(b.chunks[b.chunks.length - 1]).toMatchObject({ streamId: 'attach-live', finishReason: FinishReason.FINISH_REASON_STOP });
    expect(t.server.registry.get('attach-live')).toBe(stream); // one stream, not a replacement
  });

  it('the same stream_id with a different request is ALREADY_EXISTS, and the live stream is untouched', async () => {
    const starts = model.starts;
    const first = collect(t.client.generate(retryable('attach-conflict')));
    await waitFor(() => (t.server.registry.get('attach-conflict')?.nextSeq ?? 0) >= 2, 2000, 'two tokens');
    for (const different of [{ prompt: 'another prompt' }, { seed: 8 }, { maxTokens: 99 }, { resumable: true }, { model: 'slow' }]) {
      const { tokens, error } = await collect(t.client.generate(retryable('attach-conflict', different)));
      expect(error?.code).toBe(status.ALREADY_EXISTS);
      expect(error?.details).toBe('stream_id: stream "attach-conflict" is live and was started by a different request');
      expect(tokens).toEqual([]);
    }
    const { tokens, error } = await first;
    expect(error).toBeUndefined();
    expect(tokens).toEqual(TOKENS);
    expect(model.starts).toBe(starts + 1);
  });

  it('a retry after the stream finished replays it without running the model again', async () => {
    const original = await collect(t.client.generate(retryable('attach-finished')));
    expect(original.error).toBeUndefined();
    const starts = model.starts;
    const replay = await collect(t.client.generate(retryable('attach-finished')));
    expect(replay.error).toBeUndefined();
    expect(replay.tokens).toEqual(original.tokens);
    expect(replay.tokens).toEqual(TOKENS);
    expectContiguous(replay.chunks);
    expect(replay.chunks[replay.chunks.length - 1]).toMatchObject({
      finishReason: FinishReason.FINISH_REASON_STOP,
      usage: original.chunks[original.chunks.length - 1].usage,
    });
    expect(model.starts).toBe(starts);
  });

  it('a stream keeps a 43-character fingerprint of its request, not the request: a 60 KiB prompt is not kept twice', async () => {
    const prompt = 'long '.repeat(12_000);
    const original = await collect(t.client.generate(retryable('attach-big-prompt', { prompt })));
    expect(original.error).toBeUndefined();
    expect(t.server.registry.get('attach-big-prompt')?.fingerprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const starts = model.starts;
    const replay = await collect(t.client.generate(retryable('attach-big-prompt', { prompt })));
    expect(replay.tokens).toEqual(TOKENS);
    expect(model.starts).toBe(starts);
    const other = await collect(t.client.generate(retryable('attach-big-prompt', { prompt: `${prompt}!` })));
    expect(other.error?.code).toBe(status.ALREADY_EXISTS);
  });

  it('a stream an older build started, its fingerprint the request as JSON (a rolling deploy), still takes an identical retry', async () => {
    const input = retryable('attach-legacy');
    const legacyFingerprint = validateGenerate(input, t.server.models, CONFIG.limits, CONFIG.timeouts).fingerprint.legacy;
    const writer = await t.server.store.create({
      id: 'attach-legacy',
      model: 'counted',
      abandonPolicy: 'keep',
      fingerprint: legacyFingerprint,
    });
    writer.appendMany(['made', ' before', ' the', ' deploy']);
    writer.finish('stop');
    const starts = model.starts;
    const replay = await collect(t.client.generate(input));
    expect(replay.error).toBeUndefined();
    expect(replay.tokens).toEqual(['made', ' before', ' the', ' deploy']);
    expect(model.starts).toBe(starts);
  });

  it('the same stream_id with a different request after it finished is ALREADY_EXISTS, not a silent replay', async () => {
    await collect(t.client.generate(retryable('attach-finished-conflict')));
    const starts = model.starts;
    const { tokens, error } = await collect(t.client.generate(retryable('attach-finished-conflict', { prompt: 'changed' })));
    expect(error?.code).toBe(status.ALREADY_EXISTS);
    expect(error?.details).toBe('stream_id: stream "attach-finished-conflict" exists and was started by a different request');
    expect(tokens).toEqual([]);
    expect(model.starts).toBe(starts);
  });

  it('the first caller walking away does not cancel the stream a retry attached to', async () => {
    const starts = model.starts;
    const first = t.client.generate(retryable('attach-walk-away'));
    first.on('error', () => undefined);
    first.on('data', () => undefined);
    await waitFor(() => (t.server.registry.get('attach-walk-away')?.nextSeq ?? 0) >= 2, 2000, 'two tokens');
    const stream = t.server.registry.get('attach-walk-away');
    const second = collect(t.client.generate(retryable('attach-walk-away')));
    await waitFor(() => stream?.readerCount === 2, 2000, 'the retry to attach');
    first.cancel();
    await waitFor(() => stream?.readerCount === 1, 2000, 'the first reader to leave');
    const { tokens, error } = await second;
    expect(error).toBeUndefined();
    expect(tokens).toEqual(TOKENS);
    expect(stream?.end?.reason).toBe('stop');
    expect(model.starts).toBe(starts + 1);
  });

  it('a retry of a stream that failed starts it afresh', async () => {
    let attempt = 0;
    const flaky = new ScriptedModel('flaky', async (sink) => {
      attempt++;
      await sink.append('first');
      if (attempt === 1) throw new Error('transient');
      await sink.append(' second');
      return { finishReason: 'stop' };
    });
    t.server.models.register(flaky);
    const failed = await collect(t.client.generate(request({ model: 'flaky', prompt: 'x', streamId: 'attach-flaky' })));
    expect(failed.error?.code).toBe(status.INTERNAL);
    const retried = await collect(t.client.generate(request({ model: 'flaky', prompt: 'x', streamId: 'attach-flaky' })));
    expect(retried.error).toBeUndefined();
    expect(retried.tokens).toEqual(['first', ' second']);
    expect(flaky.starts).toBe(2);
  });
});
