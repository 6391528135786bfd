import { ModelCatalog } from '../../../src/core/models/catalog';
import { parseConfig } from '../../../src/core/config';
import { type GenerateInput, validateGenerate } from '../../../src/core/validate';
import { TokenStream } from '../../../src/core/streams/tokenStream';

const config = parseConfig({ models: [{ name: 'fast', backend: 'sim', ttftMs: 0, interTokenMs: 0 }], defaultModel: 'fast' });
const models = new ModelCatalog(config.models, config.defaultModel);
const INPUT: GenerateInput = {
  model: '',
  prompt: 'Hello',
  messages: [{ role: 'user', content: 'hi' }],
  maxTokens: 3,
  temperature: 0.5,
  topP: 1,
  stop: ['.'],
  seed: 7,
  streamId: 'job-1',
  resumable: true,
};

describe('a request fingerprint', () => {
  it('is the value every earlier build stored: a base64url SHA-256 of the request JSON, and that JSON as the legacy form', () => {
    const { fingerprint } = validateGenerate(INPUT, models, config.limits, config.timeouts);
    // Pinned: streams on a shared store outlive a deploy, and a retry must still match the stored value.
    expect(fingerprint.value).toBe('seXcO_yLFMxNbgbAXO7K-r_foDevqA9FBm3DALWS_BY');
    expect(fingerprint.legacy).toBe(
      '["fast",true,{"prompt":"Hello","messages":[{"role":"user","content":"hi"}],"maxTokens":3,"temperature":0.5,"topP":1,"stop":["."],"seed":7}]',
    );
    const other = validateGenerate({ ...INPUT, prompt: 'Hello!' }, models, config.limits, config.timeouts).fingerprint;
    expect(other.value).not.toBe(fingerprint.value);
  });

  it('given to a stream as a function, is computed after the turn, once, and read before then is computed at once', async () => {
    let computed = 0;
    const options = { model: 'fast', windowTokens: 16, resumeGraceMs: 0, abandonPolicy: 'cancel' as const };
    const later = new TokenStream({ ...options, id: 'later', fingerprint: () => `fp-${++computed}` });
    expect(computed).toBe(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(computed).toBe(1);
    expect(later.fingerprint).toBe('fp-1');
    expect(later.fingerprint).toBe('fp-1');
    expect(computed).toBe(1);

    const early = new TokenStream({ ...options, id: 'early', fingerprint: () => `fp-${++computed}` });
    expect(early.fingerprint).toBe('fp-2');
    await new Promise((resolve) => setImmediate(resolve));
    expect(early.fingerprint).toBe('fp-2');
    expect(computed).toBe(2);

    expect(new TokenStream({ ...options, id: 'given', fingerprint: 'fp' }).fingerprint).toBe('fp');
    expect(new TokenStream({ ...options, id: 'none' }).fingerprint).toBeUndefined();
  });
});
