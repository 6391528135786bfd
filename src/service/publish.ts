import { Metadata, type sendUnaryData, type ServerReadableStream } from '@grpc/grpc-js';
import type { PublishRequest, PublishResponse, TokenChunk } from '../gen/tokenrelay/v1/data_service';
import { StatusCode, StreamFailure, asFailure } from '../streams/status';
import type { TokenStream } from '../streams/tokenStream';
import type { ServiceContext } from './context';
import { finishReasonFromProto } from './convert';
import { toServiceError } from './status';
import { checkStreamId } from './validate';

const MAX_MODEL_LABEL_BYTES = 128;
/** Response header of every Publish: the seq the producer should send next (where a resumed producer continues). */
export const NEXT_SEQ_HEADER = 'tokenrelay-next-seq';

/** Who is producing a published stream; kept beside the stream, which knows nothing of publishers. */
interface Publisher {
  attached: boolean;
  resumable: boolean;
  graceTimer?: NodeJS.Timeout;
}
const publishers = new WeakMap<TokenStream, Publisher>();

export function publish(context: ServiceContext) {
  return (call: ServerReadableStream<PublishRequest, PublishResponse>, callback: sendUnaryData<PublishResponse>) => {
    new PublishCall(context, call, callback).start();
  };
}

/**
 * One Publish call: an external producer appending to a stream. The stream
 * is ours from a successful open until the call ends; a half-close ends it
 * normally, a producer that breaks without one ends it with UNAVAILABLE.
 */
class PublishCall {
  private stream: TokenStream | undefined;
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
      if (!message.open) {
        throw new StreamFailure(StatusCode.INVALID_ARGUMENT, 'open: the first message of a Publish call must be open');
      }
      this.open(message.open.streamId, message.open.model, message.open.resumable);
      return;
    }
    if (message.open) throw new StreamFailure(StatusCode.INVALID_ARGUMENT, 'open: the stream is already open');
    if (!message.chunk) throw new StreamFailure(StatusCode.INVALID_ARGUMENT, 'kind: a message must carry open or chunk');
    this.append(this.stream, message.chunk);
  }

  private open(streamId: string, model: string, resumable: boolean): void {
    checkStreamId(streamId, 'open.stream_id');
    if (Buffer.byteLength(model) > MAX_MODEL_LABEL_BYTES) {
      throw new StreamFailure(StatusCode.INVALID_ARGUMENT, `open.model: at most ${MAX_MODEL_LABEL_BYTES} bytes`);
    }
    const stream = this.resumeOrCreate(streamId, model, resumable);
    this.stream = stream;
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

  /** A resumable stream whose producer went away is continued; anything else live is ALREADY_EXISTS. */
  private resumeOrCreate(streamId: string, model: string, resumable: boolean): TokenStream {
    const existing = this.context.registry.get(streamId);
    const publisher = existing && publishers.get(existing);
    if (existing && !existing.end && publisher && !publisher.attached && publisher.resumable && resumable) {
      clearTimeout(publisher.graceTimer);
      publisher.attached = true;
      return existing;
    }
    const stream = this.context.registry.create({ id: streamId, model: model || 'external', abandonPolicy: 'keep' });
    publishers.set(stream, { attached: true, resumable });
    return stream;
  }

  private append(stream: TokenStream, chunk: TokenChunk): void {
    if (chunk.streamId !== '' && chunk.streamId !== stream.id) {
      throw new StreamFailure(
        StatusCode.INVALID_ARGUMENT,
        `chunk.stream_id: ${JSON.stringify(chunk.streamId)} is not the opened stream ${JSON.stringify(stream.id)}`,
      );
    }
    if (stream.end) {
      throw new StreamFailure(StatusCode.FAILED_PRECONDITION, `chunk: stream ${stream.id} has already ended`);
    }
    const next = stream.nextSeq;
    if (chunk.seq > next) {
      throw new StreamFailure(
        StatusCode.FAILED_PRECONDITION,
        `chunk.seq: ${chunk.seq} leaves a gap; the stream's next seq is ${next}`,
      );
    }
    // Tokens already stored (a producer resending after a reconnect) are skipped.
    const fresh = chunk.tokens.slice(next - chunk.seq);
    const limit = this.context.config.limits.maxPublishTokens;
    if (next + fresh.length > limit) {
      throw new StreamFailure(
        StatusCode.INVALID_ARGUMENT,
        `chunk.tokens: the stream would hold ${next + fresh.length} tokens, over the limit of ${limit}`,
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
    if (!stream) throw new StreamFailure(StatusCode.INVALID_ARGUMENT, 'open: the call ended before an open message');
    stream.finish('stop');
    this.reply();
  }

  private onBroken(): void {
    if (this.replied) return;
    this.replied = true;
    const stream = this.stream;
    if (!stream) return;
    const publisher = publishers.get(stream);
    if (!publisher?.resumable) {
      stream.fail(new StreamFailure(StatusCode.UNAVAILABLE, `the publisher of stream ${stream.id} went away before half-closing`));
      return;
    }
    // A resumable stream waits for its producer to come back with a new Publish.
    publisher.attached = false;
    const graceMs = this.context.config.streams.resumeGraceMs;
    publisher.graceTimer = setTimeout(() => {
      stream.fail(
        new StreamFailure(StatusCode.UNAVAILABLE, `the publisher of stream ${stream.id} went away and did not resume within ${graceMs} ms`),
      );
    }, graceMs);
    publisher.graceTimer.unref();
    stream.onEnd(() => clearTimeout(publisher.graceTimer));
  }

  private guard(action: () => void): void {
    try {
      action();
    } catch (error) {
      const failure = asFailure(error);
      // A broken producer must not leave its consumers waiting forever.
      this.endingByPublisher = true;
      this.stream?.fail(new StreamFailure(StatusCode.UNAVAILABLE, `the publisher of stream ${this.stream.id} failed: ${failure.message}`));
      this.reply(failure);
    }
  }

  private reply(failure?: StreamFailure): void {
    if (this.replied) return;
    this.replied = true;
    if (failure) {
      this.callback(toServiceError(failure));
      return;
    }
    const stream = this.stream as TokenStream;
    this.callback(null, { streamId: stream.id, tokensAccepted: this.tokensAccepted, nextSeq: stream.nextSeq });
  }
}
