import { createClient, type TokenRelayError, type TokenRelayClient } from '../../src/client';
import { status } from '@grpc/grpc-js';
import { ProbeModel } from '../helpers/probeModel';
import { startTestServer, type TestServer, waitFor } from '../helpers/server';

let t: TestServer;
let sdk: TokenRelayClient;
let probe: ProbeModel;

beforeAll(async () => {
  t = await startTestServer();
  probe = new ProbeModel('probe', 10);
  t.server.models.register(probe);
  sdk = createClient(t.address);
});
afterAll(async () => {
  sdk.close();
  await t.close();
});

function cancelledCount(): Promise<number> {
  return t.server.metrics.streamsEnded
    .get()
    .then((metric) => metric.values.filter((value) => value.labels.reason === 'cancelled').reduce((sum, value) => sum + value.value, 0));
}

/** Asserts the probe's last run was aborted within 100 ms of `cancelledAtMs` and produced nothing after. */
async function expectStopped(cancelledAtMs: number, streamId: string): Promise<void> {
  const run = probe.runs.at(-1)!;
  await waitFor(() => run.abortedMs !== undefined, 1000, 'the producer to see its abort');
  expect(run.abortedMs! - cancelledAtMs).toBeLessThan(100);
  const stream = t.server.registry.get(streamId)!;
  const stored = stream.nextSeq;
  await new Promise((resolve) => setTimeout(resolve, 60));
  expect(stream.nextSeq).toBe(stored);
  expect(stream.end?.reason).toBe('cancelled');
}

/**
 * Reads chunks until at least 3 tokens have come, then calls stop() once and
 * reads on to the end. Returns when stop() was called and what the loop threw.
 */
async function readThenStop(
  chunks: AsyncIterable<{ seq: number; tokens: string[] }>,
  stop: () => unknown,
): Promise<{ cancelledAtMs: number; failure: unknown }> {
  let cancelledAtMs = 0;
  let failure: unknown;
  try {
    for await (const chunk of chunks) {
      if (chunk.seq + chunk.tokens.length >= 3 && cancelledAtMs === 0) {
        cancelledAtMs = performance.now();
        await stop();
      }
    }
  } catch (error) {
    failure = error;
  }
  return { cancelledAtMs, failure };
}

describe('cancellation reaches the producer', () => {
  it('the Cancel RPC aborts the producer within 100 ms; the follower gets CANCELLED; metrics count it', async () => {
    const before = await cancelledCount();
    const stream = sdk.generate({ model: 'probe', prompt: 'x', maxTokens: 1000 });
    const { cancelledAtMs, failure } = await readThenStop(stream, () => sdk.cancel(stream.streamId));
    expect((failure as TokenRelayError).code).toBe(status.CANCELLED);
    await expectStopped(cancelledAtMs, stream.streamId);
    expect(await cancelledCount()).toBe(before + 1);
  });

  it('a cancel message in a StreamData session aborts that generation’s producer within 100 ms', async () => {
    const session = sdk.session();
    const generation = session.start({ model: 'probe', prompt: 'x', maxTokens: 1000, streamId: 'session-probe' });
    const { cancelledAtMs, failure } = await readThenStop(generation, () => generation.cancel());
    expect((failure as TokenRelayError).code).toBe(status.CANCELLED);
    await expectStopped(cancelledAtMs, 'session-probe');
    await session.close();
  });

  it('aborting the SDK’s signal aborts the producer within 100 ms, and the loop ends with the abort reason', async () => {
    const controller = new AbortController();
    const stream = sdk.generate({ model: 'probe', prompt: 'x', maxTokens: 1000 }, { signal: controller.signal });
    const { cancelledAtMs, failure } = await readThenStop(stream, () => controller.abort(new Error('user pressed stop')));
    expect((failure as Error).message).toBe('user pressed stop');
    await expectStopped(cancelledAtMs, stream.streamId);
  });

  it('breaking out of the loop cancels a resumable stream on the server at once (no grace window)', async () => {
    const stream = sdk.generate({ model: 'probe', prompt: 'x', maxTokens: 1000 });
    let brokeAtMs = 0;
    for await (const chunk of stream) {
      if (chunk.seq + chunk.tokens.length >= 3) {
        brokeAtMs = performance.now();
        break;
      }
    }
    await expectStopped(brokeAtMs, stream.streamId);
  });

  it('without the SDK, a non-resumable Generate whose caller cancels the call aborts its producer within 100 ms', async () => {
    const call = t.client.generate({
      model: 'probe',
      prompt: 'x',
      messages: [],
      stop: [],
      streamId: 'raw-cancel',
      resumable: false,
      maxTokens: 1000,
    });
    call.on('error', () => undefined);
    let cancelledAtMs = 0;
    await new Promise<void>((resolve) =>
      call.on('data', () => {
        if (cancelledAtMs === 0) {
          cancelledAtMs = performance.now();
          call.cancel();
          resolve();
        }
      }),
    );
    await expectStopped(cancelledAtMs, 'raw-cancel');
  });
});
