import { type ChannelOptions, type ChannelCredentials, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  type CancelResponse,
  DataServiceClient,
  type GenerateRequest,
  type ListModelsResponse,
  type PublishResponse,
} from '../gen/tokenrelay/v1/data_service';
import { DEFAULT_CLIENT_DEADLINES, type DeadlineDefaults } from '../interceptors/client/deadline';
import { clientInterceptors } from '../interceptors/client';
import type { BackoffOptions } from './backoff';
import { channelOptions } from './channel';
import { TokenRelayError } from './errors';
import { ResumableStream, type StreamOptions, generationOpener, generationRequest, withMetadata } from './generate';
import { type PublishOptions, type TokenSource, publishStream } from './publish';
import { Session } from './session';

export interface ClientOptions {
  /** Default insecure (plaintext HTTP/2). */
  credentials?: ChannelCredentials;
  /** Bearer token sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** Default deadline per method name, in ms. Defaults: ListModels and Cancel 10 s, Generate and Subscribe 10 min. */
  deadlines?: DeadlineDefaults;
  /** Backoff for unary retries and stream reconnects. Defaults: base 100 ms, cap 5 s, 8 attempts, 30 s in all. */
  backoff?: BackoffOptions;
  /** Extra or overriding grpc-js channel options. */
  channelOptions?: ChannelOptions;
}

/**
 * The TypeScript SDK: a DataService client whose streams survive lost
 * connections (resuming from the last sequence number), whose loops cancel
 * the stream when they stop early, and whose idempotent calls retry.
 */
export class TokenRelayClient {
  /** The generated client underneath, with the SDK's interceptors. */
  readonly raw: DataServiceClient;
  private readonly backoff: BackoffOptions;

  constructor(
    readonly address: string,
    private readonly options: ClientOptions = {},
  ) {
    this.backoff = options.backoff ?? {};
    this.raw = new DataServiceClient(address, options.credentials ?? credentials.createInsecure(), {
      ...channelOptions(options.channelOptions),
      interceptors: clientInterceptors({ ...DEFAULT_CLIENT_DEADLINES, ...options.deadlines }, this.backoff),
    });
  }

  /**
   * Starts a generation and returns its tokens as an async iterable. With
   * `resume` (the default) the stream gets a client-chosen id and is
   * resumable, so a lost connection is resumed from the next sequence number.
   */
  generate(request: Partial<GenerateRequest>, options: StreamOptions = {}): ResumableStream {
    const full = generationRequest(request, options.resume !== false);
    const metadata = this.metadata(options.metadata);
    return new ResumableStream(full.streamId, generationOpener(this.raw, full, metadata), this.streamOptions(options), (id) =>
      this.stopStream(id),
    );
  }

  /** Follows an existing stream from `fromSeq`; leaving the loop leaves the stream running for others. */
  subscribe(streamId: string, fromSeq = 0, options: StreamOptions = {}): ResumableStream {
    const metadata = this.metadata(options.metadata);
    const stream: ResumableStream = new ResumableStream(
      streamId,
      (seq, _delivered, callOptions) => this.raw.subscribe({ streamId, fromSeq: seq }, metadata.clone(), callOptions),
      this.streamOptions(options),
      undefined,
    );
    stream.nextSeq = fromSeq;
    return stream;
  }

  /** Publishes tokens from an external producer to a stream; resumable across reconnects by default. */
  publish(streamId: string, tokens: TokenSource, options: PublishOptions = {}): Promise<PublishResponse> {
    const metadata = this.metadata(options.metadata);
    return publishStream(this.raw, streamId, tokens, { resume: this.backoff, ...options }, () => metadata.clone(), () => ({}));
  }

  /** Opens a StreamData session. */
  session(metadata?: Metadata): Session {
    return new Session(this.raw.streamData(this.metadata(metadata)));
  }

  listModels(): Promise<ListModelsResponse> {
    return this.unary((callback) => this.raw.listModels({}, this.metadata(), callback));
  }

  /** Cancels a stream by id; safe to repeat (an ended stream answers cancelled: false). */
  cancel(streamId: string): Promise<CancelResponse> {
    return this.unary((callback) => this.raw.cancel({ streamId }, this.metadata(), callback));
  }

  close(): void {
    this.raw.close();
  }

  private streamOptions(options: StreamOptions): StreamOptions {
    return { ...options, resume: options.resume === false ? false : typeof options.resume === 'object' ? options.resume : this.backoff };
  }

  /** Stops a stream the caller started and walked away from. */
  private stopStream(streamId: string): Promise<CancelResponse> {
    return this.cancel(streamId);
  }

  private metadata(extra?: Metadata): Metadata {
    const metadata = withMetadata(extra);
    if (this.options.token && metadata.get('authorization').length === 0) {
      metadata.set('authorization', `Bearer ${this.options.token}`);
    }
    return metadata;
  }

  private unary<Response>(start: (callback: (error: ServiceError | null, response: Response) => void) => void): Promise<Response> {
    return new Promise((resolve, reject) =>
      start((error, response) => (error ? reject(TokenRelayError.from(error)) : resolve(response))),
    );
  }
}

/** Makes a client for `host:port` with tokenrelay's channel options (keepalive, small retry buffer) and interceptors. */
export function createClient(address: string, options: ClientOptions = {}): TokenRelayClient {
  return new TokenRelayClient(address, options);
}

