import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { DataRequest, DataResponse, GenerateRequest, StreamError } from '../gen/tokenrelay/v1/data_service';
import { StatusCode, StreamFailure, asFailure, fieldFailure, invalidField } from '../core/streams/status';
import type { StreamReader, StreamWriter } from '../core/streams/store';
import { callContextOf } from './interceptors/context';
import { CallOutput } from './callOutput';
import type { ServiceContext } from '../core/context';
import { startGeneration } from '../core/generation';
import { pumpStream } from '../core/pump';
import { tokenChunkOutput } from './convert';
import { failureDetails } from './status';

const MAX_REQUEST_ID_BYTES = 128;

export function streamData(context: ServiceContext) {
  return (call: ServerDuplexStream<DataRequest, DataResponse>) => {
    new Session(context, call).start();
  };
}

/** One generation of a session: its reader once its stream is open, and the writer when the session started it. */
interface SessionGeneration {
  reader?: StreamReader;
  writer?: StreamWriter;
  /** A cancel that arrived while the stream was still being opened. */
  cancelled?: StreamFailure;
  /** Answered from the response cache. */
  cached?: boolean;
}

/**
 * A StreamData session: generations started and cancelled by messages, their
 * chunks tagged with the client's request_id. Problems with one generation
 * are answered as that generation's error; a broken protocol (no request_id,
 * a duplicate live one, an empty message) ends the whole call. A request id
 * is taken the moment its start arrives, before its stream is open, so a
 * cancel or a duplicate right behind it is seen in order.
 */
class Session {
  private readonly output: CallOutput<DataResponse>;
  private readonly generations = new Map<string, SessionGeneration>();
  private halfClosed = false;

  constructor(
    private readonly context: ServiceContext,
    private readonly call: ServerDuplexStream<DataRequest, DataResponse>,
  ) {
    this.output = new CallOutput<DataResponse>(call);
  }

  start(): void {
    this.output.onGone(() => this.closeAll());
    this.call.on('data', (message: DataRequest) => {
      try {
        this.onMessage(message);
      } catch (error) {
        this.closeAll();
        this.output.fail(asFailure(error));
      }
    });
    this.call.on('end', () => {
      this.halfClosed = true;
      this.endIfDone();
    });
  }

  private onMessage(message: DataRequest): void {
    const { requestId } = message;
    if (message.ping) {
      this.output.write({ requestId, pong: { nonce: message.ping.nonce, serverTimeMs: Date.now() } });
      return;
    }
    if (!message.start && !message.cancel) {
      throw invalidField('kind', 'a DataRequest must carry start, cancel or ping');
    }
    const bytes = Buffer.byteLength(requestId);
    if (bytes < 1 || bytes > MAX_REQUEST_ID_BYTES) {
      throw invalidField('request_id', `must be 1 to ${MAX_REQUEST_ID_BYTES} bytes, got ${bytes}`);
    }
    if (message.cancel) {
      // Cancelling a generation that already ended is a harmless race.
      const generation = this.generations.get(requestId);
      if (generation)
        this.cancel(
          generation,
          new StreamFailure(StatusCode.CANCELLED, `request ${requestId} was cancelled by the session`, {
            reason: 'STREAM_CANCELLED',
            cancelledBy: 'session',
          }),
        );
      return;
    }
    if (this.generations.has(requestId)) {
      throw fieldFailure(StatusCode.ALREADY_EXISTS, 'request_id', `${JSON.stringify(requestId)} is already live in this session`);
    }
    const generation: SessionGeneration = {};
    this.generations.set(requestId, generation);
    void this.run(requestId, generation, message.start as GenerateRequest);
  }

  private async run(requestId: string, generation: SessionGeneration, start: GenerateRequest): Promise<void> {
    try {
      let reader: StreamReader;
      try {
        // A session has no deadline of its own (its generations have their pace limits); it names their requests.
        const { requestId, principal, span } = callContextOf(this.call.metadata);
        const { stream, writer, cached } = await startGeneration(this.context, start, { requestId, principal, span });
        generation.writer = writer;
        generation.cached = cached;
        reader = stream.openReader(0);
      } catch (error) {
        const failure = asFailure(error);
        this.output.write({ requestId, error: streamError(failure) });
        return;
      }
      generation.reader = reader;
      if (this.output.gone) reader.close();
      if (generation.cancelled) this.cancel(generation, generation.cancelled);
      await this.follow(requestId, reader, generation.cached);
    } finally {
      generation.reader?.close();
      this.generations.delete(requestId);
      this.endIfDone();
    }
  }

  /** Stops a generation: its own producer when the session started it, else the stream wherever it is produced. */
  private cancel(generation: SessionGeneration, failure: StreamFailure): void {
    if (!generation.reader) {
      generation.cancelled = failure;
      return;
    }
    if (generation.writer) generation.writer.fail(failure);
    else void this.context.store.stop(generation.reader.stream.id, failure).catch(() => undefined);
  }

  private async follow(requestId: string, reader: StreamReader, cached?: boolean): Promise<void> {
    const session = this.output;
    const tagged = tokenChunkOutput(reader.stream.id, (chunk) => session.write({ requestId, chunk }), session, cached);
    const end = await pumpStream(reader, tagged, this.context.config.streams);
    if (end?.failure) session.write({ requestId, error: streamError(end.failure) });
  }

  private endIfDone(): void {
    if (this.halfClosed && this.generations.size === 0) this.output.end();
  }

  private closeAll(): void {
    for (const generation of this.generations.values()) generation.reader?.close();
    this.generations.clear();
  }
}

/** A generation's failure as the session's StreamError: its code, message and typed details. */
function streamError(failure: StreamFailure): StreamError {
  return { code: failure.code, message: failure.message, details: failureDetails(failure) };
}
