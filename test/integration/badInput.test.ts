import { status } from '@grpc/grpc-js';
import { collect, request, startTestServer, type TestServer } from '../helpers/server';
import { detailsOf } from '../helpers/statusDetails';

let t: TestServer;
beforeAll(async () => (t = await startTestServer({ limits: { maxPromptBytes: 1000, maxMessageBytes: 64 * 1024 } })));
afterAll(() => t.close());

const cases: Array<[string, Parameters<typeof request>[0], number, RegExp]> = [
  ['an empty prompt', { model: 'echo', prompt: '' }, status.INVALID_ARGUMENT, /^prompt: is empty/],
  ['an unknown model', { model: 'gpt-9', prompt: 'x' }, status.NOT_FOUND, /^model: no model named "gpt-9"/],
  ['a negative max_tokens', { prompt: 'x', maxTokens: -1 }, status.INVALID_ARGUMENT, /^max_tokens: must be between 1 and 4096, got -1$/],
  ['a zero max_tokens', { prompt: 'x', maxTokens: 0 }, status.INVALID_ARGUMENT, /^max_tokens: /],
  ['a huge max_tokens', { prompt: 'x', maxTokens: 2_000_000_000 }, status.INVALID_ARGUMENT, /^max_tokens: must be between 1 and 4096/],
  ['an oversize prompt', { prompt: 'x'.repeat(1001) }, status.INVALID_ARGUMENT, /^prompt: 1001 bytes .* over the limit of 1000 bytes$/],
  ['a temperature out of range', { prompt: 'x', temperature: 3 }, status.INVALID_ARGUMENT, /^temperature: /],
  ['a top_p of 0', { prompt: 'x', topP: 0 }, status.INVALID_ARGUMENT, /^top_p: /],
  ['too many stop sequences', { prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }, status.INVALID_ARGUMENT, /^stop: at most 4/],
  ['an empty stop sequence', { prompt: 'x', stop: [''] }, status.INVALID_ARGUMENT, /^stop\[0\]: /],
  ['a malformed stream_id', { prompt: 'x', streamId: 'has space' }, status.INVALID_ARGUMENT, /^stream_id: /],
  ['an unknown message role', { messages: [{ role: 'wizard', content: 'x' }] }, status.INVALID_ARGUMENT, /^messages\[0\]\.role: /],
];

describe('bad input to Generate', () => {
  it.each(cases)('%s gets its status code and a message naming the field', async (_name, fields, code, message) => {
    const { error, tokens } = await collect(t.client.generate(request(fields)));
    expect(error?.code).toBe(code);
    expect(error?.details).toMatch(message);
    expect(tokens).toEqual([]);
    // The same status as a google.rpc.Status: its reason, and for INVALID_ARGUMENT the field the message names.
    const details = detailsOf(error);
    expect(details).toMatchObject({ code, message: error?.details });
    const field = error?.details.slice(0, error.details.indexOf(': ')) ?? '';
    if (code === status.INVALID_ARGUMENT) {
      expect(details.errorInfo).toEqual({ reason: 'INVALID_ARGUMENT', domain: 'tokenrelay', metadata: {} });
      expect(details.badRequest?.fieldViolations).toEqual([{ field, description: error?.details.slice(field.length + 2), reason: '' }]);
    } else {
      expect(details.errorInfo?.reason).toBe('MODEL_NOT_FOUND');
      expect(details.badRequest).toBeUndefined();
    }
    expect(details.retryDelayMs).toBeUndefined();
  });

  it('an oversize message is RESOURCE_EXHAUSTED and the server keeps serving', async () => {
    const { error } = await collect(t.client.generate(request({ prompt: 'x'.repeat(70 * 1024) })));
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    const after = await collect(t.client.generate(request({ model: 'echo', prompt: 'still serving' })));
    expect(after.tokens.join('')).toBe('still serving');
  });

  it('a live stream_id reused by a different request is ALREADY_EXISTS, and the live stream is untouched', async () => {
    const first = collect(t.client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 20, streamId: 'taken' })));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await collect(t.client.generate(request({ model: 'slow', prompt: 'y', maxTokens: 20, streamId: 'taken' })));
    expect(second.error?.code).toBe(status.ALREADY_EXISTS);
    expect(second.error?.details).toMatch(/^stream_id: /);
    const { tokens, error } = await first;
    expect(error).toBeUndefined();
    expect(tokens).toHaveLength(20);
  });

  it('after a burst of bad calls, a good one still gets every token', async () => {
    await Promise.all(cases.map(([, fields]) => collect(t.client.generate(request(fields)))));
    const { tokens } = await collect(t.client.generate(request({ model: 'sim', prompt: 'x', maxTokens: 100 })));
    expect(tokens).toHaveLength(100);
  });
});
