import type { GenerationRequest, GenerationResult, ModelBackend, TokenSink } from '../../src/core/models/types';

/** One run of the probe model: when it started, when it saw its abort, what it produced. */
export interface ProbeRun {
  startedMs: number;
  abortedMs?: number;
  tokens: number;
}

/**
 * A model for tests that watches itself: it emits `word-N` tokens every
 * intervalMs and records when its signal aborted.
 */
export class ProbeModel implements ModelBackend {
  readonly runs: ProbeRun[] = [];
  readonly description;

  constructor(
    name = 'probe',
    private readonly intervalMs = 10,
  ) {
    this.description = { name, backend: 'probe', description: 'test model that records its own abort' };
  }

  countPromptTokens(): number {
    return 1;
  }

  async generate(request: GenerationRequest, signal: AbortSignal, sink: TokenSink): Promise<GenerationResult> {
    const run: ProbeRun = { startedMs: performance.now(), tokens: 0 };
    this.runs.push(run);
    signal.addEventListener('abort', () => (run.abortedMs = performance.now()), { once: true });
    for (let index = 0; index < request.maxTokens; index++) {
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
      if (signal.aborted) throw signal.reason;
      const wait = sink.append(`word-${index} `);
      run.tokens++;
      if (wait) await wait;
    }
    return { finishReason: 'length' };
  }
}
