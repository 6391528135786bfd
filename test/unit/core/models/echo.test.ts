import { EchoModel } from '../../../../src/core/models/echo';
import { countTokens, tokenize } from '../../../../src/core/models/tokenizer';
import type { GenerationRequest } from '../../../../src/core/models/types';

const base: GenerationRequest = { prompt: '', messages: [], maxTokens: 4096, temperature: 1, topP: 1, stop: [], seed: 0 };

async function echo(request: Partial<GenerationRequest>) {
  const tokens: string[] = [];
  const model = new EchoModel({ name: 'echo' });
  const result = await model.generate({ ...base, ...request }, new AbortController().signal, {
    append: (token) => void tokens.push(token),
  });
  return { tokens, result, promptTokens: model.countPromptTokens({ ...base, ...request }) };
}

describe('echo model', () => {
  it('streams the prompt back as its BPE tokens, multi-byte characters intact', async () => {
    const prompt = 'naïve café — 日本語 🎉 done.';
    const { tokens, result, promptTokens } = await echo({ prompt });
    expect(tokens.join('')).toBe(prompt);
    expect(tokens).toEqual(tokenize(prompt));
    expect(tokens.every((token) => !token.includes('\uFFFD'))).toBe(true);
    expect(result.finishReason).toBe('stop');
    expect(promptTokens).toBe(countTokens(prompt));
  });

  it('cuts at max_tokens with finish reason length', async () => {
    const { tokens, result } = await echo({ prompt: 'one two three four five six', maxTokens: 3 });
    expect(tokens).toEqual(tokenize('one two three four five six').slice(0, 3));
    expect(result.finishReason).toBe('length');
  });

  it('finds a stop sequence that spans two tokens and holds back the token that completes it', async () => {
    const { tokens, result } = await echo({ prompt: 'alpha beta gamma delta', stop: ['a gam'] });
    expect(tokens.join('')).toBe('alpha beta');
    expect(result.finishReason).toBe('stop');
  });

  it('echoes chat messages one per line when there is no prompt', async () => {
    const { tokens } = await echo({
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'user', content: 'there' },
      ],
    });
    expect(tokens.join('')).toBe('hi\nthere');
  });
});
