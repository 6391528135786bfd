import { Pacer } from './pacing';
import type { GenerationRequest, GenerationResult, TokenSink } from './types';

/**
 * Feeds tokens into the sink at the pacer's rate until max_tokens ('length'),
 * a stop sequence ('stop', the completing token is not emitted), or the end of
 * the tokens ('stop'). Shared by the embedded models.
 */
export async function emitTokens(
  tokens: Iterable<string>,
  request: GenerationRequest,
  sink: TokenSink,
  pacer: Pacer,
): Promise<GenerationResult> {
  const longestStop = request.stop.reduce((longest, stop) => Math.max(longest, stop.length), 0);
  let tail = '';
  let count = 0;
  for (const token of tokens) {
    if (count >= request.maxTokens) return { finishReason: 'length' };
    if (longestStop > 0) {
      const recent = tail + token;
      if (request.stop.some((stop) => recent.includes(stop))) return { finishReason: 'stop' };
      // Keep just enough text to see a stop sequence that spans two tokens.
      tail = longestStop > 1 ? recent.slice(-(longestStop - 1)) : '';
    }
    const due = pacer.next();
    if (due) await due;
    const wait = sink.append(token);
    if (wait) await wait;
    count++;
  }
  return { finishReason: 'stop' };
}
