import { arraySource, emitTokens } from './emit';
import { Pacer } from './pacing';
import { countTokens, tokenize } from './tokenizer';
import type { GenerationRequest, GenerationResult, ModelBackend, ModelDescription, TokenSink } from './types';

export interface EchoOptions {
  name: string;
  /** Delay before the first token, in ms. Default 0. */
  ttftMs?: number;
  /** Delay between tokens, in ms. Default 0 (as fast as the consumer reads). */
  interTokenMs?: number;
}

/** The text echo streams back: the prompt, or else the messages' content one per line. */
export function echoText(request: GenerationRequest): string {
  if (request.prompt.length > 0) return request.prompt;
  return request.messages.map((message) => message.content).join('\n');
}

/** Streams the prompt back token by token: the model for checking the plumbing. */
export class EchoModel implements ModelBackend {
  readonly description: ModelDescription;

  constructor(private readonly options: EchoOptions) {
    this.description = { name: options.name, backend: 'echo', description: 'streams the prompt back token by token' };
  }

  countPromptTokens(request: GenerationRequest): number {
    return countTokens(echoText(request));
  }

  generate(request: GenerationRequest, signal: AbortSignal, sink: TokenSink): Promise<GenerationResult> {
    const pacer = new Pacer(this.options.ttftMs ?? 0, this.options.interTokenMs ?? 0, signal);
    return emitTokens(arraySource(tokenize(echoText(request))), request, sink, pacer);
  }
}
