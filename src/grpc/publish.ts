import { Metadata, type sendUnaryData, type ServerReadableStream } from '@grpc/grpc-js';
import type { PublishRequest, PublishResponse, TokenChunk } from '../gen/tokenrelay/v1/data_service';
import { NEXT_SEQ_HEADER } from '../common/headers';
import { StatusCode, StreamFailure, alreadyExists, asFailure, fieldFailure, invalidField } from '../core/streams/status';
import type { StreamWriter } from '../core/streams/store';
import type { ServiceContext } from '../core/context';
import { finishReasonFromProto } from './convert';
import { toServiceError } from './status';
import { checkStreamId } from '../core/validate';
import { mayAccess } from '../core/principals';
import { callContextOf } from './interceptors/context';

const MAX_MODEL_LABEL_BYTES = 128;

export function publish(context: ServiceContext) {
  return (call: ServerReadableStream<PublishRequest, PublishResponse>, callback: sendUnaryData<PublishResponse>) => {
    new PublishCall(context, call, callback).start();
  };
}

/**
 * One Publish call: an external producer appending to a stream. The stream
 * is ours from a successful open until the call ends; a half-close ends it
 * normally, a producer that breaks without one detaches from it (a
 * resumable stream waits for it to come back, on any replica; any other
 * ends with UNAVAILABLE). The call is paused while its stream is being
 * opened, so the chunks behind the open wait their turn.
 */
class PublishCall {
  private stream: StreamWriter | undefined;
  private opening = false;
  private readonly queued: PublishRequest[] = [];
  private tokensAccepted = 0;
  private replied = false;
  private cancelSeen = false;
  /** Set while the publisher itself ends the stream, so that end is not echoed back as an error. */
  private endingByPublisher = false;

  constructor(
    private readonly context: ServiceContext,
    private readonly call: ServerReadableStream<PublishRequest, PublishResponse>,
    private readonly callback: sendUnaryData<PublishResponse>,
  ) {}

  start(): void {
    this.call.on('data', (message: PublishRequest) => this.guard(() => this.onMessage(message)));
    // grpc-js clients cancel by sending END_STREAM and then, a few ms later,
    // RST_STREAM: a cancel first arrives looking like a half-close. Commit to
    // the half-close only once the settle window passed without a cancel.
    this.call.on('end', () => {
      setTimeout(() => this.guard(() => this.onHalfClose()), this.context.config.streams.halfCloseSettleMs);
    });
    this.call.on('cancelled', () =>
      this.guard(() => {
        this.cancelSeen = true;
        this.onBroken();
      }),
    );
  }

  private onMessage(message: PublishRequest): void {
    if (this.replied) return;
    if (!this.stream) {
      if (this.opening) {
        this.queued.push(message); // arrived before the pause took hold
        return;
      }
      if (!message.open) {
        throw invalidField('open', 'the first message of a Publish call must be open');
      }
      this.opening = true;
      this.call.pause();
      this.open(message.open.streamId, message.open.model, message.open.resumable).then(
        () => {
          for (const queued of this.queued.splice(0)) this.guard(() => this.onMessage(queued));
          this.call.resume();
        },
        (error: unknown) =>
          this.guard(() => {
            throw error;
          }),
      );
      return;
    }
    if (message.open) throw invalidField('open', 'the stream is already open');
    if (!message.chunk) throw invalidField('kind', 'a message must carry open or chunk');
    this.append(this.stream, message.chunk);
  }

  private async open(streamId: string, model: string, resumable: boolean): Promise<void> {
    checkStreamId(streamId, 'open.stream_id');
    if (Buffer.byteLength(model) > MAX_MODEL_LABEL_BYTES) {
      throw invalidField('open.model', `at most ${MAX_MODEL_LABEL_BYTES} bytes`);
    }
    const stream = await this.resumeOrCreate(streamId, model, resumable);
    if (this.replied || this.cancelSeen) {
      // The producer left while the stream was being opened.
      stream.detach();
      return;
    }
    this.stream = stream;
    callContextOf(this.call.metadata).noteStream(stream);
    const headers = new Metadata();
    headers.set(NEXT_SEQ_HEADER, String(stream.nextSeq));
    this.call.sendMetadata(headers);
    // A Cancel (or shutdown) of the stream ends this call with the same status.
    stream.signal.addEventListener(
      'abort',
      () => {
        if (!this.endingByPublisher) this.reply(asFailure(stream.signal.reason));
      },
      { once: true },
    );
  }

  /**
   * A resumable stream whose producer went away is continued; any other
   * stream with the id, live or finished and retained, is ALREADY_EXISTS: a
   * reader resuming a finished stream must never get another producer's tokens.
   */
  private async resumeOrCreate(streamId: string, model: string, resumable: boolean): Promise<StreamWriter> {
    const { principal } = callContextOf(this.call.metadata);
    if (principal && principal.streams !== 'all') {
      // Another principal's stream can be neither reopened nor replaced; its id is simply taken.
      const existing = await this.context.store.find(streamId);
      if (existing && !mayAccess(principal, existing.owner)) {
        throw alreadyExists(streamId, existing.end ? 'finished' : 'live', 'open.stream_id');
      }
    }
    if (resumable) {
      const reopened = await this.context.store.reopen(streamId);
      if (reopened) return reopened;
    }
    const admission = this.context.principalLimiter.admit(principal?.name, 0);
    try {
      const writer = await this.context.store.create({
        id: streamId,
        model: model || 'external',
        abandonPolicy: 'keep',
        publishedResumable: resumable,
        owner: principal?.name,
      });
      admission.bind(writer);
      return writer;
    } catch (error) {
      admission.release();
      throw error;
    }
  }

  private append(stream: StreamWriter, chunk: TokenChunk): void {
    if (chunk.streamId !== '' && chunk.streamId !== stream.id) {
      throw new StreamFailure(
        StatusCode.INVALID_ARGUMENT,
        `chunk.stream_id: ${JSON.stringify(chunk.streamId)} is not the opened stream ${JSON.stringify(stream.id)}`,
      );
    }
    if (stream.end) {
      throw fieldFailure(StatusCode.FAILED_PRECONDITION, 'chunk', `stream ${stream.id} has already ended`);
    }
    const next = stream.nextSeq;
    if (chunk.seq > next) {
      throw new StreamFailure(StatusCode.FAILED_PRECONDITION, `chunk.seq: ${chunk.seq} leaves a gap; the stream's next seq is ${next}`);
    }
    // Tokens already stored (a producer resending after a reconnect) are skipped.
    const fresh = chunk.tokens.slice(next - chunk.seq);
    // Past a per-stream bound Publish is refused, and the tokens already accepted stay readable; retrying cannot help.
    const { maxPublishTokens, maxStreamBytes } = this.context.config.limits;
    if (next + fresh.length > maxPublishTokens) {
      throw fieldFailure(
        StatusCode.RESOURCE_EXHAUSTED,
        'chunk.tokens',
        `the stream would hold ${next + fresh.length} tokens, over limits.maxPublishTokens (${maxPublishTokens})`,
        { reason: 'STREAM_TOO_LARGE', retryAfterMs: null },
      );
    }
    const bytes = stream.textBytes + Buffer.byteLength(fresh.length === 1 ? fresh[0] : fresh.join(''));
    if (bytes > maxStreamBytes) {
      throw fieldFailure(
        StatusCode.RESOURCE_EXHAUSTED,
        'chunk.tokens',
        `the stream would hold ${bytes} bytes of token text, over limits.maxStreamBytes (${maxStreamBytes})`,
        { reason: 'STREAM_TOO_LARGE', retryAfterMs: null },
      );
    }
    this.tokensAccepted += fresh.length;
    const wait = stream.appendMany(fresh);
    if (wait) {
      this.call.pause();
      void wait.then(() => this.call.resume());
    }
    const reason = finishReasonFromProto(chunk.finishReason);
    if (reason === 'stop' || reason === 'length') {
      stream.finish(reason, {
        promptTokens: chunk.usage?.promptTokens,
        completionTokens: chunk.usage?.completionTokens,
      });
    } else if (reason) {
      const code = reason === 'cancelled' ? StatusCode.CANCELLED : StatusCode.ABORTED;
      this.endingByPublisher = true;
      stream.fail(new StreamFailure(code, `stream ${stream.id} ended by its publisher with finish reason ${reason}`));
    }
  }

  private onHalfClose(): void {
    if (this.replied || this.cancelSeen) return;
    const stream = this.stream;
    if (!stream) throw invalidField('open', 'the call ended before an open message');
    stream.finish('stop');
    // Answer once the end is stored: next_seq is then what every reader sees.
    stream.onEnd((end) => this.reply(end.failure && !this.endingByPublisher ? end.failure : undefined));
  }

  private onBroken(): void {
    if (this.replied) return;
    this.replied = true;
    this.stream?.detach();
  }

  private guard(action: () => void): void {
    try {
      action();
    } catch (error) {
      const failure = asFailure(error);
      // A broken producer must not leave its consumers waiting forever.
      this.endingByPublisher = true;
      this.stream?.fail(
        new StreamFailure(StatusCode.UNAVAILABLE, `the publisher of stream ${this.stream.id} failed: ${failure.message}`, {
          reason: 'PRODUCER_LOST',
        }),
      );
      this.reply(failure);
    }
  }

  private reply(failure?: StreamFailure): void {
    if (this.replied) return;
    this.replied = true;
    callContextOf(this.call.metadata).noteEnd(this.stream?.end);
    if (failure) {
      this.callback(toServiceError(failure));
      return;
    }
    const stream = this.stream as StreamWriter;
    this.callback(null, { streamId: stream.id, tokensAccepted: this.tokensAccepted, nextSeq: stream.nextSeq });
  }
}
