import type { GenerationRequest, GenerationResult, ModelBackend, TokenSink } from '../../src/core/models/types';

/** Waits ms, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Resolves when the signal aborts (never otherwise). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** What a scripted model does for one generation. */
export type Script = (sink: TokenSink, signal: AbortSignal, request: GenerationRequest) => Promise<GenerationResult>;

/**
 * A ModelBackend for tests, registered with `server.models.register(model)`:
 * it runs the script, and counts how often it started, how many tokens it
 * appended, and whether its signal aborted (the producer saw the abort).
 */
export class ScriptedModel implements ModelBackend {
  readonly description;
  /** Generations started. */
  starts = 0;
  /** Tokens appended over all generations. */
  appended = 0;
  /** The signal of every generation started, in order. */
  readonly signals: AbortSignal[] = [];

  constructor(
    name: string,
    private readonly script: Script,
  ) {
    this.description = { name, backend: 'test', description: 'a scripted test model' };
  }

  countPromptTokens(): number {
    return 1;
  }

  generate(request: GenerationRequest, signal: AbortSignal, sink: TokenSink): Promise<GenerationResult> {
    this.starts++;
    this.signals.push(signal);
    const counting: TokenSink = {
      append: (token) => {
        this.appended++;
        return sink.append(token);
      },
    };
    return this.script(counting, signal, request);
  }
}

/** A script that appends the tokens with ms between them (and before the first), then stops. */
export function paced(tokens: readonly string[], intervalMs: number): Script {
  return async (sink, signal) => {
    for (const token of tokens) {
      await sleep(intervalMs, signal);
      await sink.append(token);
    }
    return { finishReason: 'stop' };
  };
}
