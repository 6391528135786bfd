import { StatusCode } from '../../streams/status';
import { UpstreamError, formatError, messageOf, quote } from './errors';
import { NdjsonParser } from './ndjson';
import { type UpstreamStep, type WireFormat, chatMessages, count } from './wireFormat';

/**
 * Ollama's native /api/chat: one JSON object a line (application/x-ndjson),
 * each with `message.content`; the last has `done: true`, `done_reason` and
 * the counts `prompt_eval_count` and `eval_count`. A line with `error` is
 * UNAVAILABLE with Ollama's message.
 */
export const ollamaFormat: WireFormat = {
  backend: 'ollama',
  path: '/api/chat',
  accept: 'application/x-ndjson',

  requestBody(request, model) {
    return {
      model,
      messages: chatMessages(request),
      stream: true,
      options: {
        temperature: request.temperature,
        top_p: request.topP,
        num_predict: request.maxTokens,
        ...(request.stop.length > 0 ? { stop: request.stop } : {}),
        seed: request.seed,
      },
    };
  },

  async *steps(body) {
    const parser = new NdjsonParser();
    for await (const bytes of body) {
      for (const value of parser.push(bytes)) {
        const step = stepOf(value);
        yield step;
        if (step.done) return;
      }
    }
    for (const value of parser.end()) yield stepOf(value);
  },
};

function stepOf(value: unknown): UpstreamStep {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw formatError(`upstream sent a line that is not a JSON object: ${quote(JSON.stringify(value))}`);
  }
  const line = value as {
    error?: unknown;
    message?: { content?: unknown };
    done?: unknown;
    done_reason?: unknown;
    prompt_eval_count?: unknown;
    eval_count?: unknown;
  };
  if (line.error !== undefined && line.error !== null) {
    throw new UpstreamError(
      StatusCode.UNAVAILABLE,
      `upstream reported an error: ${quote(messageOf(value) ?? String(line.error), 300)}`,
      false,
    );
  }
  const step: UpstreamStep = {};
  const content = line.message?.content;
  if (typeof content === 'string' && content !== '') step.token = content;
  if (line.done === true) {
    step.done = true;
    // done_reason is "stop", "length", or "load"/"unload" for requests that only (un)load a model.
    step.finishReason = line.done_reason === 'length' ? 'length' : 'stop';
    step.usage = { promptTokens: count(line.prompt_eval_count), completionTokens: count(line.eval_count) };
  }
  return step;
}
