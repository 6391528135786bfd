import { emitTokens } from './emit';
import { Pacer } from './pacing';
import { countTokens, tokenize } from './tokenizer';
import { echoText } from './echo';
import type { GenerationRequest, GenerationResult, ModelBackend, ModelDescription, TokenSink } from './types';

export interface SimOptions {
  name: string;
  /** Time to first token, in ms. Default 0. */
  ttftMs?: number;
  /** Time between tokens, in ms. Default 0 (unpaced). */
  interTokenMs?: number;
}

const WORDS = (
  'the of and to in is that it for was on are as with be at by this had not but what all were when we there can ' +
  'an your which their said if do will each about how up out them then she many some so these would other into ' +
  'has more her two like him see time could no make than first been its who now people my made over did down only ' +
  'way find use may water long little very after words called just where most know get through back much before ' +
  'go good new write our used me man too any day same right look think also around another came come work three ' +
  'word must because does part even place well such here take why things help put years different away again off ' +
  'went old number great tell men say small every found still between name should home big give air line set own ' +
  'under read last never us left end along while might next sound below saw something thought both few those ' +
  'always looked show large often together asked house world going want school important until form food keep ' +
  'children feet land side without boy once animals life enough took sometimes four head above kind began almost ' +
  'live page got earth need far hand high year mother light parts country father let night following picture ' +
  'being study second eyes soon times story boys since white days paper hard near sentence better best across ' +
  'during today others sure means knew why stream token relay model signal window reader answer'
).split(' ');

/** A small fast PRNG (mulberry32): the same seed gives the same sequence everywhere. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Each word's BPE tokens after a space, lower case and capitalised, and the period's: made once, on first use. */
interface WordTokens {
  spaced: string[][];
  capitalised: string[][];
  period: string[];
}
let wordTokens: WordTokens | undefined;
function words(): WordTokens {
  wordTokens ??= {
    spaced: WORDS.map((word) => tokenize(` ${word}`)),
    capitalised: WORDS.map((word) => tokenize(` ${word[0].toUpperCase()}${word.slice(1)}`)),
    period: tokenize('.'),
  };
  return wordTokens;
}

/**
 * Deterministic English-like text as BPE tokens, forever, one token per
 * next(). Sentences of 6 to 17 words; temperature widens the choice of the
 * next word (0 is one fixed text whatever the seed) and top_p narrows it.
 * A plain object rather than a generator: the sim model is the token source
 * of the throughput benchmarks, so its cost per token is kept to an array
 * read (words are tokenized once, and the PRNG runs once per word).
 */
export class SimText {
  private readonly random: () => number;
  private readonly spread: number;
  private readonly words = words();
  private word = 0;
  private first = true;
  private sentenceLeft: number;
  private endSentence = false;
  private current: readonly string[] = [];
  private index = 0;

  constructor(seed: number, temperature: number, topP: number) {
    // Greedy (temperature 0) output is one fixed text, whatever the seed.
    this.random = temperature === 0 ? mulberry32(0) : mulberry32(seed ^ Math.floor(seed / 4294967296));
    this.spread = Math.max(1, Math.round(WORDS.length * Math.min(1, temperature / 2) * topP));
    this.sentenceLeft = 6 + Math.floor(this.random() * 12);
  }

  /** The next token. */
  next(): string {
    if (this.index === this.current.length) this.advance();
    return this.current[this.index++];
  }

  /** Moves to the next word's tokens (or the period that ends a sentence). Every word has at least one token. */
  private advance(): void {
    this.index = 0;
    if (this.endSentence) {
      this.endSentence = false;
      this.current = this.words.period;
      this.first = true;
      this.sentenceLeft = 6 + Math.floor(this.random() * 12);
      return;
    }
    this.word = (this.word * 7 + 1 + Math.floor(this.random() * this.spread)) % WORDS.length;
    this.current = (this.first ? this.words.capitalised : this.words.spaced)[this.word];
    this.first = false;
    if (--this.sentenceLeft === 0) this.endSentence = true;
  }
}

/** The sim model's tokens for a seed, as an iterator (see SimText). */
export function* simTokens(seed: number, temperature: number, topP: number): Generator<string> {
  const text = new SimText(seed, temperature, topP);
  for (;;) yield text.next();
}

/**
 * A simulator of a real model, in the spirit of the vLLM simulators used for
 * load tests: deterministic text from the seed, real BPE tokens, configurable
 * time to first token and inter-token latency. Ends with 'length' at
 * max_tokens, or 'stop' at a stop sequence.
 */
export class SimModel implements ModelBackend {
  readonly description: ModelDescription;

  constructor(private readonly options: SimOptions) {
    this.description = {
      name: options.name,
      backend: 'sim',
      description: `simulated model: ttft ${options.ttftMs ?? 0} ms, ${options.interTokenMs ?? 0} ms between tokens`,
    };
  }

  countPromptTokens(request: GenerationRequest): number {
    return countTokens(echoText(request));
  }

  generate(request: GenerationRequest, signal: AbortSignal, sink: TokenSink): Promise<GenerationResult> {
    const pacer = new Pacer(this.options.ttftMs ?? 0, this.options.interTokenMs ?? 0, signal);
    const text = new SimText(request.seed, request.temperature, request.topP);
    return emitTokens(() => text.next(), request, sink, pacer);
  }
}
