import { Metadata, status } from '@grpc/grpc-js';
import type { DataServiceClient } from '../../src/gen/tokenrelay/v1/data_service';
import type { TokenRelayServer } from '../../src/server/server';
import { StatusCode, StreamFailure } from '../../src/core/streams/status';
import { ScriptedModel, aborted, sleep } from '../helpers/models';
import { collect, expectContiguous, memoryLogger, request, startTestServer, type TestServer, waitFor } from '../helpers/server';

const SECRET_MESSAGE = 'db password is hunter2 at /srv/models/weights.bin';

let t: TestServer;
let server: TokenRelayServer;
let client: DataServiceClient;
const log = memoryLogger('info');
/** The log lines so far, parsed. */
const records = () => log.lines.map((line) => JSON.parse(line) as Record<string, unknown>);

beforeAll(async () => {
  t = await startTestServer({}, { logger: log.logger });
  ({ server, client } = t);
  server.models.register(
    new ScriptedModel('crash-after-3', async (sink) => {
      for (const token of ['a', 'b', 'c']) await sink.append(token);
      await sleep(20);
      throw new Error(SECRET_MESSAGE);
    }),
  );
});
afterAll(() => t.close());

async function expectStillServing(): Promise<void> {
  const { tokens, error } = await collect(client.generate(request({ model: 'echo', prompt: 'still serving' })));
  expect(error).toBeUndefined();
  expect(tokens.join('')).toBe('still serving');
}

describe('errors', () => {
  it('a model that throws a plain Error mid-stream: its tokens, then INTERNAL "internal error" with nothing of the original', async () => {
    const metadata = new Metadata();
    metadata.set('x-request-id', 'err-mid-stream');
    const { tokens, chunks, error } = await collect(
      client.generate(request({ model: 'crash-after-3', prompt: 'x', streamId: 'crash-1' }), metadata),
    );
    expect(tokens).toEqual(['a', 'b', 'c']);
    expectContiguous(chunks);
    expect(error?.code).toBe(status.INTERNAL);
    expect(error?.details).toBe('internal error');
    expect(error?.message).not.toContain('hunter2');
    expect(error?.message).not.toMatch(/\bat \S+ \(/); // no stack frames
    const stream = server.registry.get('crash-1');
    expect(stream?.end?.reason).toBe('error');
    expect(stream?.end?.failure?.code).toBe(status.INTERNAL);
    await expectStillServing();
  });

  it('the original error and its stack are logged on the server', async () => {
    await collect(client.generate(request({ model: 'crash-after-3', prompt: 'x', streamId: 'crash-logged' })));
    await waitFor(() => records().some((line) => line.streamId === 'crash-logged'), 2000, 'the model failure line');
    const line = records().find((entry) => entry.streamId === 'crash-logged') as { level: number; err: { message: string; stack: string } };
    expect(line.level).toBe(50); // error
    expect(line.err.message).toBe(SECRET_MESSAGE);
    expect(line.err.stack).toContain('errors.test.ts');
  });

  it('a subscriber following the crashed stream gets the same INTERNAL, after the same tokens', async () => {
    const generation = collect(client.generate(request({ model: 'crash-after-3', prompt: 'x', streamId: 'crash-followed' })));
    await waitFor(() => server.registry.get('crash-followed') !== undefined, 2000, 'the stream');
    const subscriber = await collect(client.subscribe({ streamId: 'crash-followed', fromSeq: 0 }));
    expect(subscriber.tokens).toEqual(['a', 'b', 'c']);
    expect(subscriber.error?.code).toBe(status.INTERNAL);
    expect(subscriber.error?.details).toBe('internal error');
    expect((await generation).error?.details).toBe('internal error');
  });

  it('a model that throws before its first token, synchronously or not, is INTERNAL too', async () => {
    server.models.register(
      new ScriptedModel('reject-at-once', async () => {
        throw new TypeError(SECRET_MESSAGE);
      }),
    );
    server.models.register(
      new ScriptedModel('throw-sync', () => {
        throw new RangeError(SECRET_MESSAGE);
      }),
    );
    for (const model of ['reject-at-once', 'throw-sync']) {
      const { tokens, error } = await collect(client.generate(request({ model, prompt: 'x' })));
      expect(tokens).toEqual([]);
      expect(error?.code).toBe(status.INTERNAL);
      expect(error?.details).toBe('internal error');
    }
    await expectStillServing();
  });

  it('a model whose prompt counting throws is INTERNAL without the message, logs its stack, and leaves no live stream', async () => {
    const broken = new ScriptedModel('count-throws', async () => ({ finishReason: 'stop' }));
    broken.countPromptTokens = () => {
      throw new Error(SECRET_MESSAGE);
    };
    server.models.register(broken);
    const active = server.registry.activeCount;
    const before = log.lines.length;
    const { error } = await collect(client.generate(request({ model: 'count-throws', prompt: 'x', streamId: 'count-throws' })));
    expect(error?.code).toBe(status.INTERNAL);
    expect(error?.details).not.toContain('hunter2');
    expect(error?.details).toMatch(/^internal error/);
    // The prompt is counted when the end needs it, so the model ran; its stream ended with the same INTERNAL.
    expect(broken.starts).toBe(1);
    expect(server.registry.get('count-throws')?.end?.failure?.code).toBe(StatusCode.INTERNAL);
    expect(server.registry.activeCount).toBe(active);
    // Our bug, so its stack is logged where an operator can find it.
    const logged = () =>
      records()
        .slice(before)
        .find((line) => (line.err as { message?: string } | undefined)?.message === SECRET_MESSAGE);
    await waitFor(() => logged() !== undefined, 1000, 'the error logged with its stack');
    expect(logged()).toMatchObject({ level: 50, err: { stack: expect.stringContaining('errors.test.ts') } });
    await expectStillServing();
  });

  it('a prompt count that throws while a cancel ends the stream is logged, and the stream still ends CANCELLED', async () => {
    const broken = new ScriptedModel('count-throws-late', async (sink, signal) => {
      await sink.append('first');
      await aborted(signal);
      throw signal.reason;
    });
    broken.countPromptTokens = () => {
      throw new Error(SECRET_MESSAGE);
    };
    server.models.register(broken);
    const before = log.lines.length;
    const call = client.generate(request({ model: 'count-throws-late', prompt: 'x', streamId: 'count-throws-late' }));
    const result = collect(call);
    await new Promise((resolve) => call.once('data', resolve)); // the first token reached the client
    call.cancel();
    const { tokens, error } = await result;
    expect(tokens).toEqual(['first']);
    expect(error?.code).toBe(status.CANCELLED);
    await waitFor(() => server.registry.get('count-throws-late')?.end !== undefined, 1000, 'the stream ended');
    const end = server.registry.get('count-throws-late')?.end;
    expect(end?.failure?.code).toBe(StatusCode.CANCELLED);
    expect(end?.usage).toEqual({ promptTokens: 0, completionTokens: 1 });
    const logged = records()
      .slice(before)
      .find((line) => line.msg === 'prompt count failed');
    expect(logged).toMatchObject({ level: 50, err: { message: SECRET_MESSAGE } });
    await expectStillServing();
  });

  it('a model that fails with a StreamFailure keeps its status code and message (a deliberate, safe error)', async () => {
    server.models.register(
      new ScriptedModel('upstream-down', async (sink) => {
        await sink.append('partial');
        throw new StreamFailure(StatusCode.UNAVAILABLE, 'upstream: connection refused');
      }),
    );
    const { tokens, error } = await collect(client.generate(request({ model: 'upstream-down', prompt: 'x' })));
    expect(tokens).toEqual(['partial']);
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(error?.details).toBe('upstream: connection refused');
  });

  it('after many crashes at once the server still serves every other call', async () => {
    const crashes = Array.from({ length: 20 }, () => collect(client.generate(request({ model: 'crash-after-3', prompt: 'x' }))));
    const healthy = collect(client.generate(request({ model: 'sim', prompt: 'x', maxTokens: 500 })));
    for (const { error } of await Promise.all(crashes)) expect(error?.details).toBe('internal error');
    const { tokens, error } = await healthy;
    expect(error).toBeUndefined();
    expect(tokens).toHaveLength(500);
    expect(server.registry.activeCount).toBe(0);
  });
});
