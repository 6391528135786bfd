import type { GenerateRequest } from '../gen/tokenrelay/v1/data_service';
import { StatusCode, StreamFailure, asFailure } from '../streams/status';
import type { TokenStream } from '../streams/tokenStream';
import type { ServiceContext } from './context';
import { validateGenerate } from './validate';
import { watchPace } from '../streams/watchdog';

/** The stream a Generate follows, and whether this call started it (and so bounds it with its deadline). */
export interface Generation {
  stream: TokenStream;
  started: boolean;
}

/** What a generation knows of the call that started it. */
export interface StartingCall {
  /** The call's deadline, in ms since the epoch; Infinity for none. */
  deadlineMs?: number;
  /** The call's request id, for log lines about the generation. */
  requestId?: string;
}

/**
 * Starts a generation in a new stream, or attaches to the live stream a
 * retried identical request started (so a retry never pays twice). The model
 * runs detached from any one call: its stream's signal stops it. The starting
 * call's deadline reaches the model in the request, so it can plan by it (an
 * upstream starts no retry past it); the signal enforces it.
 */
export function startGeneration(context: ServiceContext, input: GenerateRequest, call: StartingCall = {}): Generation {
  const { deadlineMs = Infinity, requestId } = call;
  const { model, request, streamId, resumable, fingerprint, pace } = validateGenerate(
    input,
    context.models,
    context.config.limits,
    context.config.timeouts,
  );
  if (streamId !== '') {
    const existing = context.registry.get(streamId);
    // A finished stream is replayed to an identical retry; a failed one is started again.
    if (existing && (!existing.end || !existing.end.failure)) {
      if (existing.fingerprint === fingerprint) return { stream: existing, started: false };
      if (existing.end) throw new StreamFailure(
        StatusCode.ALREADY_EXISTS,
        `stream_id: stream ${JSON.stringify(streamId)} exists and was started by a different request`,
      );
      throw new StreamFailure(
        StatusCode.ALREADY_EXISTS,
        `stream_id: stream ${JSON.stringify(streamId)} is live and was started by a different request`,
      );
    }
  }
  const stream = context.registry.create({
    id: streamId || undefined,
    model: model.description.name,
    abandonPolicy: resumable ? 'grace' : 'cancel',
    promptTokens: model.countPromptTokens(request),
    fingerprint,
  });
  watchPace(stream, pace);
  // Set after the fingerprint: an identical retry with a later deadline is still the same request.
  const bounded = Number.isFinite(deadlineMs) ? { ...request, deadlineMs } : request;
  void runModel(context, stream, requestId, () => model.generate(bounded, stream.signal, stream));
  return { stream, started: true };
}

async function runModel(
  context: ServiceContext,
  stream: TokenStream,
  requestId: string | undefined,
  generate: () => Promise<{ finishReason: 'stop' | 'length'; usage?: { promptTokens?: number; completionTokens?: number } }>,
): Promise<void> {
  try {
    const result = await generate();
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
