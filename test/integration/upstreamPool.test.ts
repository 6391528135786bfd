import { status } from '@grpc/grpc-js';
import { FakeUpstream, openAiReply, openAiSlowReply, delay } from '../helpers/fakeUpstream';
import { collect, request, startTestServer, TEST_MODELS, type TestServer } from '../helpers/server';

let fake: FakeUpstream;
let t: TestServer;

beforeAll(async () => {
  fake = await FakeUpstream.start(openAiReply([]));
  t = await startTestServer({
    models: [...TEST_MODELS, { name: 'narrow', backend: 'openai', baseUrl: `${fake.url}/v1`, maxConcurrent: 1, maxQueue: 1 }],
  });
});
afterAll(async () => {
  await t.close();
  await fake.close();
});

const TOKENS = Array.from({ length: 15 }, (_, index) => ` t${index}`);
const generate = () => {
  const call = t.client.generate(request({ model: 'narrow', prompt: 'x' }));
  return { call, result: collect(call) };
};

describe('bounded concurrency per upstream', () => {
  it('runs maxConcurrent requests, queues maxQueue more, and refuses the next with RESOURCE_EXHAUSTED without sending it', async () => {
    fake.script(openAiSlowReply(TOKENS, 20));
    const before = fake.attempts;
    const first = generate();
    while (fake.attempts === before) await delay(5);
    const second = generate(); // waits for the slot
    await delay(50);
    const third = await generate().result;
    expect(third.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(third.error?.details).toBe(
      'model "narrow": upstream busy: 1 requests in flight and 1 waiting (maxConcurrent 1, maxQueue 1); try again later',
    );
    expect(fake.attempts - before).toBe(1);
    // The queued request runs when the first is done, never alongside it.
    expect((await first.result).tokens).toEqual(TOKENS);
    expect((await second.result).tokens).toEqual(TOKENS);
    expect(fake.attempts - before).toBe(2);
    const [one, two] = fake.requests.slice(-2);
    expect(two.receivedAtMs).toBeGreaterThan(one.receivedAtMs + 15 * 20 - 50);
  });

  it('a queued request whose caller cancels leaves the queue and never reaches the upstream', async () => {
    fake.script(openAiSlowReply(TOKENS, 20));
    const before = fake.attempts;
    const first = generate();
    while (fake.attempts === before) await delay(5);
    const queued = generate();
    await delay(30);
    queued.call.cancel();
    expect((await queued.result).error?.code).toBe(status.CANCELLED);
    // With the queue empty again, another request may wait in it.
    const next = generate();
    expect((await first.result).tokens).toEqual(TOKENS);
    expect((await next.result).tokens).toEqual(TOKENS);
    expect(fake.attempts - before).toBe(2);
  });
});
