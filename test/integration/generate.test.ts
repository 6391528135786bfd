import { Metadata, status } from '@grpc/grpc-js';
import { FinishReason } from '../../src/gen/tokenrelay/v1/data_service';
import { simTokens } from '../../src/core/models/sim';
import { tokenize } from '../../src/core/models/tokenizer';
import { collect, expectContiguous, request, startTestServer, type TestServer } from '../helpers/server';

let t: TestServer;
beforeAll(async () => (t = await startTestServer()));
afterAll(() => t.close());

describe('Generate', () => {
  it('echo streams the prompt back as its BPE tokens, numbered from 0, with usage on the last chunk', async () => {
    const prompt = 'Hello, world! Tokens café 🎉 arrive in order.';
    const { chunks, tokens, error } = await collect(t.client.generate(request({ model: 'echo', prompt })));
    expect(error).toBeUndefined();
    expect(tokens).toEqual(tokenize(prompt));
    expect(tokens.join('')).toBe(prompt);
    expectContiguous(chunks);
    const last = chunks[chunks.length - 1];
    expect(last.finishReason).toBe(FinishReason.FINISH_REASON_STOP);
    expect(last.usage).toEqual({ promptTokens: tokens.length, completionTokens: tokens.length, cachedTokens: 0 });
    for (const chunk of chunks.slice(0, -1)) expect(chunk.finishReason).toBe(FinishReason.FINISH_REASON_UNSPECIFIED);
    expect(new Set(chunks.map((c) => c.streamId)).size).toBe(1);
  });

  it('a prompt that looks like a special token is plain text: echoed back and counted, not an error', async () => {
    const prompt = 'before <|endoftext|> after <|im_start|>';
    for (const model of ['echo', 'sim']) {
      const { chunks, tokens, error } = await collect(t.client.generate(request({ model, prompt, maxTokens: 64 })));
      expect(error).toBeUndefined();
      const usage = chunks[chunks.length - 1].usage;
      expect(usage?.promptTokens).toBe(tokenize(prompt).length);
      if (model === 'echo') expect(tokens.join('')).toBe(prompt);
    }
  });

  it('a short unpaced generation that ends in the same turn arrives as one chunk carrying its tokens and its end', async () => {
    for (const maxTokens of [1, 5]) {
      const { chunks, tokens } = await collect(t.client.generate(request({ model: 'sim', prompt: 'go', maxTokens, seed: 3 })));
      expect(tokens).toEqual([...take(simTokens(3, 1, 1), maxTokens)]);
      expect(chunks).toHaveLength(1);
      expect(chunks[0].finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
      expect(chunks[0].usage?.completionTokens).toBe(maxTokens);
    }
  });

  it('echo of chat messages streams their content, one message per line', async () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Say hi.' },
    ];
    const { tokens, error } = await collect(t.client.generate(request({ model: 'echo', messages })));
    expect(error).toBeUndefined();
    expect(tokens.join('')).toBe('Be brief.\nSay hi.');
  });

  it('sim is deterministic for a seed, ends with LENGTH at max_tokens', async () => {
    const ask = () => collect(t.client.generate(request({ model: 'sim', prompt: 'go', maxTokens: 50, seed: 42 })));
    const [first, second] = await Promise.all([ask(), ask()]);
    expect(first.tokens).toHaveLength(50);
    expect(second.tokens).toEqual(first.tokens);
    const expected = [...take(simTokens(42, 1, 1), 50)];
    expect(first.tokens).toEqual(expected);
    const last = first.chunks[first.chunks.length - 1];
    expect(last.finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
    expect(last.usage?.completionTokens).toBe(50);
    const other = await collect(t.client.generate(request({ model: 'sim', prompt: 'go', maxTokens: 50, seed: 7 })));
    expect(other.tokens).not.toEqual(first.tokens);
  });

  it('the default model is used when none is named, with the default max_tokens', async () => {
    const { tokens, chunks } = await collect(t.client.generate(request({ prompt: 'go' })));
    expect(tokens).toHaveLength(256);
    expect(chunks[chunks.length - 1].finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
  });

  it('stops before the token that completes a stop sequence', async () => {
    const prompt = 'one two three four five';
    const { tokens, chunks } = await collect(t.client.generate(request({ model: 'echo', prompt, stop: ['four'] })));
    expect(tokens.join('')).toBe('one two three');
    expect(chunks[chunks.length - 1].finishReason).toBe(FinishReason.FINISH_REASON_STOP);
  });

  it('a client-chosen stream_id names the stream', async () => {
    const { chunks } = await collect(t.client.generate(request({ model: 'echo', prompt: 'named', streamId: 'my-stream.1' })));
    expect(chunks.every((c) => c.streamId === 'my-stream.1')).toBe(true);
  });

  it('echoes the request id in the response metadata', async () => {
    const metadata = new Metadata();
    metadata.set('x-request-id', 'req-123');
    const call = t.client.generate(request({ model: 'echo', prompt: 'id' }), metadata);
    const headers = await new Promise<Metadata>((resolve) => call.on('metadata', resolve));
    expect(headers.get('x-request-id')).toEqual(['req-123']);
    await collect(call);
  });

  it('an unknown model is NOT_FOUND and names the model', async () => {
    const { error, tokens } = await collect(t.client.generate(request({ model: 'nope', prompt: 'x' })));
    expect(error?.code).toBe(status.NOT_FOUND);
    expect(error?.details).toMatch(/^model: no model named "nope"/);
    expect(tokens).toEqual([]);
  });
});

function* take<T>(items: Iterable<T>, count: number): Generator<T> {
  if (count <= 0) return;
  for (const item of items) {
    yield item;
    if (--count === 0) return;
  }
}
