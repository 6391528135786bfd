import { FinishReason, type TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { request, startTestServer, type TestServer, waitFor } from '../helpers/server';
import { simPrefix } from '../helpers/tokens';

const TOTAL = 200_000;
const WINDOW = 1024;
/** How long the consumer waits after each chunk before it reads the next. */
const READ_EVERY_MS = 10;

let t: TestServer;
beforeAll(async () => (t = await startTestServer({ limits: { maxTokens: TOTAL }, streams: { windowTokens: WINDOW } })));
afterAll(() => t.close());

describe('backpressure', () => {
  it('a slow consumer of 200,000 tokens: the log never buffers more than the window, the producer is paused, every token arrives in order', async () => {
    const call = t.client.generate(
      request({ model: 'sim', prompt: 'x', maxTokens: TOTAL, seed: 42, temperature: 1, streamId: 'slow-reader' }),
    );
    const chunks: TokenChunk[] = [];
    const done = new Promise<Error | undefined>((resolve) => {
      call.on('error', (error) => resolve(error));
      call.on('end', () => resolve(undefined));
    });
    // One chunk, then a pause: a consumer that reads far slower than the model produces.
    call.on('data', (chunk: TokenChunk) => {
      chunks.push(chunk);
      call.pause();
      setTimeout(() => call.resume(), READ_EVERY_MS);
    });
    await waitFor(() => t.server.registry.get('slow-reader') !== undefined, 2000, 'the stream');
    const stream = t.server.registry.get('slow-reader');
    if (!stream) throw new Error('no stream');

    const samples: Array<{ buffered: number; paused: boolean }> = [];
    const sampler = setInterval(() => {
      if (!stream.end) samples.push({ buffered: stream.bufferedTokens, paused: stream.producerPaused });
    }, 5);
    let error: Error | undefined;
    try {
      error = await done;
    } finally {
      clearInterval(sampler);
    }

    expect(error).toBeUndefined();
    expect(samples.length).toBeGreaterThan(200);
    const maxBuffered = Math.max(...samples.map((sample) => sample.buffered));
    // The producer appends one token at a time and waits once the slowest reader is a window behind.
    expect(maxBuffered).toBeLessThanOrEqual(WINDOW);
    expect(maxBuffered).toBe(WINDOW); // it did fill the window: the consumer really was slower
    const pausedSamples = samples.filter((sample) => sample.paused);
    expect(pausedSamples.length).toBeGreaterThan(samples.length / 2);
    // Paused exactly when a full window is waiting, never earlier.
    expect(pausedSamples.every((sample) => sample.buffered === WINDOW)).toBe(true);

    const tokens = chunks.flatMap((chunk) => chunk.tokens);
    expect(tokens.length).toBe(TOTAL);
    let next = 0;
    for (const chunk of chunks) {
      if (chunk.seq !== next) throw new Error(`chunk at seq ${chunk.seq}, expected ${next}`);
      next += chunk.tokens.length;
    }
    expect(next).toBe(TOTAL);
    expect(tokens).toEqual(simPrefix(42, TOTAL));
    expect(chunks[chunks.length - 1].finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
    expect(stream.end?.reason).toBe('length');
  }, 30_000);
});
