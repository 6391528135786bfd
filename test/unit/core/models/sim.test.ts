import { SimModel, simTokens } from '../../../../src/core/models/sim';
import { tokenize } from '../../../../src/core/models/tokenizer';
import type { GenerationRequest } from '../../../../src/core/models/types';

const base: GenerationRequest = { prompt: 'x', messages: [], maxTokens: 64, temperature: 1, topP: 1, stop: [], seed: 1 };

function take(count: number, ...args: Parameters<typeof simTokens>): string[] {
  const tokens: string[] = [];
  for (const token of simTokens(...args)) {
    tokens.push(token);
    if (tokens.length === count) break;
  }
  return tokens;
}

async function run(request: GenerationRequest, signal = new AbortController().signal) {
  const tokens: string[] = [];
  const model = new SimModel({ name: 'sim' });
  const result = await model.generate(request, signal, { append: (token) => void tokens.push(token) });
  return { tokens, result };
}

describe('sim model', () => {
  it('produces the same tokens for the same seed and different ones for another', () => {
    expect(take(200, 5, 1, 1)).toEqual(take(200, 5, 1, 1));
    expect(take(200, 5, 1, 1)).not.toEqual(take(200, 6, 1, 1));
  });

  it('is seed-independent at temperature 0', () => {
    expect(take(100, 5, 0, 1)).toEqual(take(100, 6, 0, 1));
  });

  it('emits real BPE tokens: re-tokenizing the text gives the same tokens', () => {
    const tokens = take(300, 11, 1, 1);
    expect(tokenize(tokens.join(''))).toEqual(tokens);
  });

  it('stops at exactly max_tokens with finish reason length', async () => {
    const { tokens, result } = await run({ ...base, maxTokens: 37 });
    expect(tokens).toHaveLength(37);
    expect(result.finishReason).toBe('length');
  });

  it('stops before a stop sequence with finish reason stop', async () => {
    const text = take(64, 1, 1, 1).join('');
    const stop = text.slice(40, 46);
    const { tokens, result } = await run({ ...base, stop: [stop] });
    expect(result.finishReason).toBe('stop');
    expect(tokens.join('')).not.toContain(stop);
    expect(text.startsWith(tokens.join(''))).toBe(true);
  });

  it('honours ttft and inter-token pacing and stops when aborted', async () => {
    const controller = new AbortController();
    const tokens: string[] = [];
    const model = new SimModel({ name: 'paced', ttftMs: 0, interTokenMs: 10 });
    const running = model.generate({ ...base, maxTokens: 1000 }, controller.signal, { append: (token) => void tokens.push(token) });
    await new Promise((resolve) => setTimeout(resolve, 60));
    controller.abort(new Error('stop now'));
    await expect(running).rejects.toThrow('stop now');
    const count = tokens.length;
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThan(1000);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(tokens.length).toBe(count);
  });

  describe('unpaced, into a sink that takes runs of tokens', () => {
    async function runInRuns(request: GenerationRequest, room: number) {
      const tokens: string[] = [];
      const runs: number[] = [];
      const sink = {
        append: (token: string) => void tokens.push(token),
        appendMany: (run: readonly string[]) => {
          runs.push(run.length);
          tokens.push(...run);
          return undefined;
        },
        room,
      };
      const result = await new SimModel({ name: 'sim' }).generate(request, new AbortController().signal, sink);
      return { tokens, runs, result };
    }

    it('gets the same tokens as a sink that takes them one by one, in runs no longer than its room', async () => {
      const request = { ...base, maxTokens: 1000 };
      const oneByOne = await run(request);
      const inRuns = await runInRuns(request, 100);
      expect(inRuns.tokens).toEqual(oneByOne.tokens);
      expect(inRuns.result).toEqual({ finishReason: 'length' });
      expect(Math.max(...inRuns.runs)).toBe(100);
      expect(inRuns.runs.reduce((sum, length) => sum + length, 0)).toBe(1000);
    });

    it('stops before a stop sequence exactly as token by token', async () => {
      const text = take(400, 1, 1, 1).join('');
      const request = { ...base, maxTokens: 400, stop: [text.slice(300, 306)] };
      const inRuns = await runInRuns(request, 1000);
      expect(inRuns.result.finishReason).toBe('stop');
      expect(inRuns.tokens).toEqual((await run(request)).tokens);
    });

    it('waits on the sink: a run the sink never lets go of holds the model', async () => {
      const runs: number[] = [];
      void new SimModel({ name: 'sim' }).generate({ ...base, maxTokens: 1000 }, new AbortController().signal, {
        append: () => undefined,
        appendMany: (run) => {
          runs.push(run.length);
          return new Promise<void>(() => undefined);
        },
        room: 10,
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(runs).toEqual([10]);
    });
  });

  it('waits on the sink: a sink that never resolves holds the model at one token', async () => {
    const tokens: string[] = [];
    const model = new SimModel({ name: 'sim' });
    void model.generate({ ...base, maxTokens: 100 }, new AbortController().signal, {
      append: (token) => {
        tokens.push(token);
        return new Promise<void>(() => undefined);
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(tokens).toHaveLength(1);
  });
});
