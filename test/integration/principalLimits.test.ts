import { type ClientWritableStream, Metadata, status } from '@grpc/grpc-js';
import { type PublishRequest, TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { httpRequest } from '../helpers/httpClient';
import { collect, request, startTestServer, type TestServer, waitFor } from '../helpers/server';
import { detailsOf } from '../helpers/statusDetails';

// limits.perPrincipal: each principal may hold at most maxConcurrentStreams
// live streams and generate tokensPerMinute completion tokens a minute (a
// token bucket: a generation takes its max_tokens when it starts and gets back
// what it did not use). Past either, that principal alone gets
// RESOURCE_EXHAUSTED with a reason and a RetryInfo (HTTP: 429, Retry-After),
// while another principal's calls go on exactly.

const FRONTEND = 'frontend-token-0123456789';
const BACKEND = 'backend-token-0123456789';
const TOKENS_PER_MINUTE = 60; // one token a second: a spent bucket stays spent for the whole test

let t: TestServer;

function as(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

beforeAll(async () => {
  t = await startTestServer({
    auth: {
      principals: [
        { name: 'frontend', tokens: [FRONTEND] },
        { name: 'backend', tokens: [BACKEND] },
      ],
    },
    limits: { perPrincipal: { maxConcurrentStreams: 2, tokensPerMinute: TOKENS_PER_MINUTE } },
  });
});
afterAll(() => t?.close());

const generate = (token: string, fields: Parameters<typeof request>[0]) => collect(t.client.generate(request(fields), as(token)));

function chat(token: string, maxTokens: number) {
  return httpRequest(t.server.httpPort as number, '/v1/chat/completions', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: { model: 'echo', max_tokens: maxTokens, messages: [{ role: 'user', content: 'hello there' }] },
  });
}

/** A published stream of the principal's, live until its publisher half-closes (a Publish reserves no tokens). */
async function holdPublished(token: string, id: string): Promise<ClientWritableStream<PublishRequest>> {
  const before = t.server.store.activeCount;
  const publisher = t.client.publish(as(token), () => undefined);
  publisher.write({ open: { streamId: id, model: 'external', resumable: false } });
  publisher.write({ chunk: TokenChunk.fromPartial({ seq: 0, tokens: ['held'] }) });
  await waitFor(() => t.server.store.activeCount === before + 1, 5000, `the published stream ${id}`);
  return publisher;
}

describe('limits.perPrincipal.maxConcurrentStreams', () => {
  it("a principal's third live stream is RESOURCE_EXHAUSTED (TOO_MANY_STREAMS, RetryInfo), on gRPC and HTTP; another principal is not limited", async () => {
    const first = await holdPublished(FRONTEND, 'frontend-1');
    const second = await holdPublished(FRONTEND, 'frontend-2');

    const refused = await generate(FRONTEND, { model: 'echo', prompt: 'third', maxTokens: 1 });
    expect(refused.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.error?.details).toBe('principal "frontend" has 2 live streams, the limit of limits.perPrincipal.maxConcurrentStreams');
    expect(detailsOf(refused.error)).toMatchObject({ errorInfo: { reason: 'TOO_MANY_STREAMS' }, retryDelayMs: 1000 });
    const overHttp = await chat(FRONTEND, 1);
    expect(overHttp.status).toBe(429);
    expect(overHttp.headers['retry-after']).toBe('1');
    expect(overHttp.json().error.code).toBe('too_many_streams');

    const other = await generate(BACKEND, { model: 'echo', prompt: 'backend is not limited', maxTokens: 10 });
    expect(other.error).toBeUndefined();
    expect(other.tokens.join('')).toBe('backend is not limited');

    first.end();
    await waitFor(() => t.server.store.activeCount === 1, 5000, 'the first published stream to end');
    const again = await generate(FRONTEND, { model: 'echo', prompt: 'room again', maxTokens: 2 });
    expect(again.error).toBeUndefined();
    expect(again.tokens.join('')).toBe('room again');
    second.end();
    await waitFor(() => t.server.store.activeCount === 0, 5000, 'the second published stream to end');
  });
});

describe('limits.perPrincipal.tokensPerMinute', () => {
  it('a generation takes its max_tokens; what it did not use comes back at its end', async () => {
    // The bucket holds 60 (less the 1-token generations above). A 3-token echo reserving 500 is admitted, then refunded.
    const first = await generate(BACKEND, { model: 'echo', prompt: 'one two three', maxTokens: 500 });
    expect(first.tokens.join('')).toBe('one two three');
    // Without the refund the bucket would be near -450 and this would be refused for minutes.
    const second = await generate(BACKEND, { model: 'echo', prompt: 'still allowed', maxTokens: 500 });
    expect(second.error).toBeUndefined();
    expect(second.tokens.join('')).toBe('still allowed');
  });

  it('a spent bucket refuses that principal alone, with RATE_LIMITED and the wait until it refills, on gRPC and HTTP', async () => {
    // sim generates exactly max_tokens: 600 spent from a bucket of at most 60 leaves it at least 540 below zero.
    const spend = await generate(BACKEND, { model: 'sim', prompt: 'spend it all', maxTokens: 600 });
    expect(spend.tokens).toHaveLength(600);

    const refused = await generate(BACKEND, { model: 'echo', prompt: 'x', maxTokens: 1 });
    expect(refused.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.error?.details).toMatch(
      /^principal "backend" has used its limits\.perPrincipal\.tokensPerMinute \(60\); retry in \d+ ms$/,
    );
    const { errorInfo, retryDelayMs } = detailsOf(refused.error);
    expect(errorInfo?.reason).toBe('RATE_LIMITED');
    // One token a second, from at least 540 below zero back to 1.
    expect(retryDelayMs).toBeGreaterThan(500_000);
    expect(retryDelayMs).toBeLessThanOrEqual(601_000);

    const overHttp = await chat(BACKEND, 1);
    expect(overHttp.status).toBe(429);
    expect(Number(overHttp.headers['retry-after'])).toBeGreaterThan(500);
    expect(overHttp.json().error.code).toBe('rate_limited');

    const other = await generate(FRONTEND, { model: 'echo', prompt: 'frontend still generates', maxTokens: 5 });
    expect(other.error).toBeUndefined();
    expect(other.tokens.join('')).toBe('frontend still generates');

    const metrics = await t.server.metrics.registry.metrics();
    expect(metrics).toMatch(/tokenrelay_principal_refused_total\{principal="backend",limit="tokens"\} 2/);
    expect(metrics).toMatch(/tokenrelay_principal_refused_total\{principal="frontend",limit="streams"\} 2/);
  });
});
