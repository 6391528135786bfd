import { StatusCode, StreamFailure, asFailure, fieldFailure, internalErrorMessage } from './streams/status';
import type { StreamView, StreamWriter } from './streams/store';
import type { CallContext } from './callContext';
import type { ServiceContext } from './context';
import { type GenerateInput, validateGenerate } from './validate';
import { watchPace } from './streams/watchdog';
import { mayAccess } from './principals';

/** The stream a Generate follows; `writer` when this call started it (and so bounds it with its deadline). */
export interface Generation {
  stream: StreamView;
  writer?: StreamWriter;
  /** Answered from the response cache: the finished stream of an identical earlier request. */
  cached?: boolean;
}

/** What a generation knows of the call that started it: its deadline (to plan by) and its request id (for log lines). */
export type StartingCall = Partial<Pick<CallContext, 'deadlineMs' | 'requestId' | 'principal' | 'span'>>;

/**
 * Starts a generation in a new stream, or attaches to the stream a retried
 * identical request started (so a retry never pays twice), wherever it is
 * produced. The model runs detached from any one call: its stream's signal
 * stops it. The starting call's deadline reaches the model in the request, so
 * it can plan by it (an upstream starts no retry past it); the signal
 * enforces it.
 */
export async function startGeneration(context: ServiceContext, input: GenerateInput, call: StartingCall = {}): Promise<Generation> {
  const { deadlineMs = Infinity, requestId, principal, span } = call;
  const { model, request, streamId, resumable, fingerprint, pace } = validateGenerate(
    input,
    context.models,
    context.config.limits,
    context.config.timeouts,
  );
  if (streamId !== '') {
    const existing = await context.store.find(streamId);
    // Another principal's stream is never attached to nor started again.
    if (existing && !mayAccess(principal, existing.owner)) {
      throw fieldFailure(
        StatusCode.ALREADY_EXISTS,
        'stream_id',
        `stream ${JSON.stringify(streamId)} exists and was started by a different request`,
        {
          reason: 'STREAM_ALREADY_EXISTS',
        },
      );
    }
    // A finished stream is replayed to an identical retry; a failed one is started again.
    if (existing && !existing.end?.failure) {
      if (existing.fingerprint === fingerprint.value || existing.fingerprint === fingerprint.legacy) return { stream: existing };
      const state = existing.end ? 'exists' : 'is live';
      throw fieldFailure(
        StatusCode.ALREADY_EXISTS,
        'stream_id',
        `stream ${JSON.stringify(streamId)} ${state} and was started by a different request`,
        {
          reason: 'STREAM_ALREADY_EXISTS',
        },
      );
    }
  }
  const cacheKey = context.cache.keyOf(model.description.name, request, input, principal?.name);
  if (cacheKey !== undefined) {
    const cached = await context.cache.lookup(cacheKey);
    if (cached) return { stream: cached, cached: true };
  }
  const admission = context.principalLimiter.admit(principal?.name, request.maxTokens);
  // Counted when the end needs it, never before the first token (see PromptCount).
  const prompt = new PromptCount(
    () => model.countPromptTokens(request),
    (error) => context.logger.error({ err: error, requestId, streamId: streamId || undefined }, 'prompt count failed'),
  );
  let writer: StreamWriter;
  try {
    writer = await context.store.create({
      id: streamId || undefined,
      model: model.description.name,
      abandonPolicy: resumable ? 'grace' : 'cancel',
      countPromptTokens: () => prompt.tokens() ?? 0,
      fingerprint: () => fingerprint.value,
      owner: principal?.name,
      replaceFinished: true,
    });
  } catch (error) {
    admission.release();
    throw error;
  }
  admission.bind(writer);
  if (cacheKey !== undefined) context.cache.remember(writer, cacheKey);
  watchPace(writer, pace);
  // Set after the fingerprint: an identical retry with a later deadline is still the same request.
  const trace = context.tracing.startGeneration(writer, span, request, model.description.backend, request.messages.length > 0);
  const bounded = { ...request, ...(Number.isFinite(deadlineMs) ? { deadlineMs } : {}), ...(trace ? { trace } : {}) };
  void runModel(context, writer, requestId, prompt, () => model.generate(bounded, writer.signal, writer));
  return { stream: writer.view, writer };
}

async function runModel(
  context: ServiceContext,
  stream: StreamWriter,
  requestId: string | undefined,
  prompt: PromptCount,
  generate: () => Promise<{ finishReason: 'stop' | 'length'; usage?: { promptTokens?: number; completionTokens?: number } }>,
): Promise<void> {
  try {
    const result = await generate();
    // Counted here, before the end is settled, so a counter that failed ends the stream with INTERNAL, not with a wrong usage.
    if (result.usage?.promptTokens === undefined && prompt.tokens() === undefined) {
      stream.fail(new StreamFailure(StatusCode.INTERNAL, internalErrorMessage(requestId ?? '')));
      return;
    }
    stream.finish(result.finishReason, result.usage);
  } catch (error) {
    if (stream.end) return; // aborted: the stream already carries why
    const failure = asFailure(error);
    if (failure.code === StatusCode.INTERNAL) {
      context.logger.error({ err: error, requestId, streamId: stream.id }, 'model failed');
    }
    stream.fail(failure);
  }
}

/**
 * A generation's prompt token count, taken once, when first asked for: the
 * end's usage needs it, the first token does not, and counting a long prompt
 * takes milliseconds (about 90 µs per KiB of prose). A counter that throws is
 * our bug: it is logged with its stack once, the count reads as 0 where a
 * stream's end is being settled anyway (a cancel, a deadline), and tokens()
 * says undefined so a normal end fails with INTERNAL instead.
 */
class PromptCount {
  private counted: number | undefined;
  private failed = false;

  constructor(
    private readonly count: () => number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** The count; undefined if counting failed. */
  tokens(): number | undefined {
    if (this.counted === undefined && !this.failed) {
      try {
        this.counted = this.count();
      } catch (error) {
        this.failed = true;
        this.onError(error);
      }
    }
    return this.counted;
  }
}
