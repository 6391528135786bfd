import type { Pacer } from './pacing';
import type { GenerationRequest, GenerationResult, TokenSink } from './types';

/** The next token of a model's text, or undefined at its end. */
export type TokenSource = () => string | undefined;

/** Tokens in an array, one per call, then undefined. */
export function arraySource(tokens: readonly string[]): TokenSource {
  let index = 0;
  return () => tokens[index++];
}

/**
 * A function that is true for the token that completes one of the stop
 * sequences (seen across token boundaries); undefined when there are none.
 */
function stopMatcher(stop: readonly string[]): ((token: string) => boolean) | undefined {
  const longest = stop.reduce((most, sequence) => Math.max(most, sequence.length), 0);
  if (longest === 0) return undefined;
  let tail = '';
  return (token) => {
    const recent = tail + token;
    if (stop.some((sequence) => recent.includes(sequence))) return true;
    // Keep just enough text to see a stop sequence that spans two tokens.
    tail = longest > 1 ? recent.slice(-(longest - 1)) : '';
    return false;
  };
}

/**
 * Feeds tokens into the sink at the pacer's rate until max_tokens ('length'),
 * a stop sequence ('stop', the completing token is not emitted), or the end of
 * the tokens ('stop'). Shared by the embedded models.
 *
 * Unpaced, tokens go to a sink that takes several at once in runs: as many as
 * the pacer allows before it yields to the event loop, and no more than the
 * sink has room for before backpressure, so the window holds exactly as it
 * does token by token. Nobody can read a token before the producer yields
 * anyway, so a run changes nothing a consumer sees; it saves the per-token
 * bookkeeping of append(). Paced, every token goes at its own time.
 */
export async function emitTokens(
  source: TokenSource,
  request: GenerationRequest,
  sink: TokenSink,
  pacer: Pacer,
): Promise<GenerationResult> {
  const stops = stopMatcher(request.stop);
  const appendMany = pacer.unpaced ? sink.appendMany?.bind(sink) : undefined;
  let count = 0;
  for (;;) {
    if (count >= request.maxTokens) return { finishReason: 'length' };
    if (!appendMany) {
      const token = source();
      if (token === undefined || stops?.(token)) return { finishReason: 'stop' };
      const due = pacer.next();
      if (due) await due;
      const wait = sink.append(token);
      if (wait) await wait;
      count++;
      continue;
    }
    pacer.throwIfAborted();
    const size = Math.max(1, Math.min(request.maxTokens - count, pacer.runLength(), sink.room ?? Infinity));
    const run: string[] = [];
    let ended = false;
    while (run.length < size) {
      const token = source();
      if (token === undefined || stops?.(token)) {
        ended = true;
        break;
      }
      run.push(token);
    }
    if (run.length > 0) {
      count += run.length;
      const wait = appendMany(run);
      if (wait) await wait;
    }
    if (ended) return { finishReason: 'stop' };
    const due = pacer.advance(run.length);
    if (due) await due;
  }
}
