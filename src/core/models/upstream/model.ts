import type { Usage } from '../../streams/tokenStream';
import { StatusCode, StreamFailure } from '../../streams/status';
import { echoText } from '../echo';
import { countTokens } from '../tokenizer';
import type { GenerationRequest, GenerationResult, ModelBackend, ModelDescription, TokenSink } from '../types';
import { UpstreamError } from './errors';
import type { UpstreamHttp } from './http';
import { type RetryPolicy, withRetry } from './retry';
import type { UpstreamStep, WireFormat } from './wireFormat';

export interface UpstreamModelOptions {
  /** The name clients ask for. */
  name: string;
  /** The upstream's base URL as ListModels shows it (it never carries credentials). */
  baseUrl: string;
  /** The upstream's model id. */
  model: string;
  format: WireFormat;
  http: UpstreamHttp;
  retry: RetryPolicy;
}

/**
 * A model served by an upstream HTTP server. Each piece of text the upstream
 * streams becomes one token in the log, as it arrives. A failed request is
 * retried only while no token has been relayed (retrying later would repeat
 * them); after that a broken upstream ends the stream with UNAVAILABLE and the
 * tokens relayed stay. The signal (cancel, deadline, shutdown) closes the
 * upstream request.
 */
export class UpstreamModel implements ModelBackend {
  readonly description: ModelDescription;

  constructor(private readonly options: UpstreamModelOptions) {
    this.description = {
      name: options.name,
      backend: options.format.backend,
      description: `${options.format.backend === 'ollama' ? 'Ollama /api/chat' : 'OpenAI-compatible chat completions'}, model ${JSON.stringify(options.model)}`,
      baseUrl: options.baseUrl,
    };
  }

  /** The prompt's length in our tokenizer's tokens: an estimate until the upstream reports its own count. */
  countPromptTokens(request: GenerationRequest): number {
    return countTokens(echoText(request));
  }

  async generate(request: GenerationRequest, signal: AbortSignal, sink: TokenSink): Promise<GenerationResult> {
    const { format, http, retry, model, name } = this.options;
    const payload = format.requestBody(request, model);
    const progress = { relayed: 0 };
    const attempt = async () => {
      try {
        return await http.post(
          format.path,
          payload,
          format.accept,
          signal,
          (body, abandon) => relay(format.steps(body), request.maxTokens, sink, progress, abandon),
          request.trace,
        );
      } catch (error) {
        if (progress.relayed === 0 || signal.aborted || !(error instanceof UpstreamError)) throw error;
        throw new UpstreamError(
          StatusCode.UNAVAILABLE,
          `${error.message}, after ${progress.relayed} tokens; not retried, since those tokens were already relayed`,
          false,
        );
      }
    };
    try {
      return await withRetry(attempt, { policy: retry, signal, deadlineMs: request.deadlineMs });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (error instanceof StreamFailure) {
        throw new StreamFailure(error.code, `model ${JSON.stringify(name)}: ${http.redact(error.message)}`, {
          reason: 'MODEL_FAILED',
          retryAfterMs: error instanceof UpstreamError ? error.retryAfterMs : undefined,
        });
      }
      throw error;
    }
  }
}

/**
 * Appends each step's token to the sink (awaiting it: backpressure) until the
 * upstream says it is done. An upstream that runs past max_tokens is cut off
 * there with 'length' (and its request abandoned). A failure after the finish
 * reason costs only the usage counts, so the generation still ends normally.
 */
async function relay(
  steps: AsyncIterable<UpstreamStep>,
  maxTokens: number,
  sink: TokenSink,
  progress: { relayed: number },
  abandon: () => void,
): Promise<GenerationResult> {
  let finishReason: 'stop' | 'length' | undefined;
  let usage: Partial<Usage> | undefined;
  let done = false;
  try {
    for await (const step of steps) {
      if (step.token) {
        if (progress.relayed >= maxTokens) {
          finishReason = 'length';
          abandon();
          break;
        }
        progress.relayed++;
        const wait = sink.append(step.token);
        if (wait) await wait;
      }
      if (step.usage) usage = merge(usage, step.usage);
      if (step.finishReason) finishReason = step.finishReason;
      if (step.done) {
        done = true;
        break;
      }
    }
  } catch (error) {
    if (finishReason === undefined || !(error instanceof UpstreamError)) throw error;
  }
  if (finishReason === undefined) {
    if (!done) throw new UpstreamError(StatusCode.UNAVAILABLE, 'upstream ended its answer before it finished', true);
    finishReason = 'stop';
  }
  return { finishReason, usage };
}

/** The counts of both, the later's where both have one. */
function merge(earlier: Partial<Usage> | undefined, later: Partial<Usage>): Partial<Usage> {
  return {
    promptTokens: later.promptTokens ?? earlier?.promptTokens,
    completionTokens: later.completionTokens ?? earlier?.completionTokens,
  };
}
