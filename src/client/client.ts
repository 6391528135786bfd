import type { ChannelCredentials, ChannelOptions, Metadata, ServiceError } from '@grpc/grpc-js';
import {
  type CancelResponse,
  DataServiceClient,
  type GenerateRequest,
  type ListModelsResponse,
  type PublishResponse,
} from '../gen/tokenrelay/v1/data_service';
import { DEFAULT_CLIENT_DEADLINES, type DeadlineDefaults } from './interceptors/deadline';
import { clientInterceptors } from './interceptors';
import type { BackoffOptions } from '../common/backoff';
import { type ClientTls, channelCredentials, channelOptions } from './channel';
import { TokenRelayError, neverConnected, unreachable } from './errors';
import { ResumableStream, type StreamOptions, generationOpener, generationRequest, withMetadata } from './generate';
import { type PublishOptions, type TokenSource, publishStream } from './publish';
import { Session } from './session';
import { type ClientAddresses, channelTarget } from './target';

export interface ClientOptions {
  /** TLS (see ClientTls); default plaintext HTTP/2. */
  tls?: ClientTls;
  /** grpc-js channel credentials, for what `tls` does not cover; they win over `tls`. */
  credentials?: ChannelCredentials;
  /** Bearer token sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** Default deadline per method name, in ms. Defaults: ListModels and Cancel 10 s, Generate and Subscribe 10 min. */
  deadlines?: DeadlineDefaults;
  /** Backoff for unary retries and stream reconnects. Defaults: base 100 ms, cap 5 s, 8 attempts, 30 s in all. */
  backoff?: BackoffOptions;
  /** Extra or overriding grpc-js channel options. */
  channelOptions?: ChannelOptions;
  /**
   * What a call does when this client has never reached a server and cannot
   * connect: `'retry'` (the default: backoff and resume as for any lost
   * connection, for a client started before its server), or `'fail'` at once
   * with UNAVAILABLE `cannot reach ADDRESS (connection refused)` (for a tool
   * a person runs, like the CLI). Once a call has reached a server, a lost
   * connection is retried and resumed either way.
   */
  firstConnect?: 'retry' | 'fail';
}

/**
 * The TypeScript SDK: a DataService client whose streams survive lost
 * connections (resuming from the last sequence number), whose loops cancel
 * the stream when they stop early, and whose idempotent calls retry.
 */
export class TokenRelayClient {
  /**
   * The gRPC target the channel uses: a single address as given, otherwise
   * the URI built from the list (`ipv4:…`, `ipv6:…` or `tokenrelay-hosts:…`)
   * or the URI given.
   */
  readonly address: string;
  /** The generated client underneath, with the SDK's interceptors. */
  readonly raw: DataServiceClient;
  private readonly backoff: BackoffOptions;
  /** Whether any call has reached a server (had its response headers). */
  private reached = false;
  /** The addresses as the caller wrote them, for `cannot reach ...`. */
  private readonly given: string;

  /**
   * @param addresses One `'host:port'`; several, as an array or a
   *   comma-separated string, balanced round_robin; or a target URI:
   *   `'dns:///name:port'` (round_robin over every address of the name),
   *   `'ipv4:a:p,b:p'`, `'ipv6:[a]:p,[b]:p'`. No default. A bad entry throws
   *   an Error naming it, e.g. `addresses[1]: "foo" has no port`.
   */
  constructor(
    addresses: ClientAddresses,
    private readonly options: ClientOptions = {},
  ) {
    const { target, loadBalancing } = channelTarget(addresses);
    this.address = target;
    this.given = typeof addresses === 'string' ? addresses.trim() : addresses.join(',');
    this.backoff = options.backoff ?? {};
    this.raw = new DataServiceClient(target, options.credentials ?? channelCredentials(options.tls), {
      ...channelOptions(options.channelOptions, loadBalancing),
      interceptors: clientInterceptors({ ...DEFAULT_CLIENT_DEADLINES, ...options.deadlines }, this.backoff, {
        reached: () => this.reached || options.firstConnect !== 'fail',
        onReached: () => {
          this.reached = true;
        },
      }),
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
    return new ResumableStream(
      full.streamId,
      generationOpener(this.raw, full, metadata),
      this.streamOptions(options),
      (id) => this.stopStream(id),
      this.firstContact,
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
      this.firstContact,
    );
    stream.nextSeq = fromSeq;
    return stream;
  }

  /** Publishes tokens from an external producer to a stream; resumable across reconnects by default. */
  publish(streamId: string, tokens: TokenSource, options: PublishOptions = {}): Promise<PublishResponse> {
    const metadata = this.metadata(options.metadata);
    return publishStream(
      this.raw,
      streamId,
      tokens,
      { resume: this.backoff, ...options },
      () => metadata.clone(),
      () => ({}),
    );
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
      start((error, response) => (error ? reject(this.firstContact(error) ?? TokenRelayError.from(error)) : resolve(response))),
    );
  }

  /**
   * With `firstConnect: 'fail'`: a call that reached no server, while this
   * client never has, is most likely a wrong address or a server that is not
   * running, so it fails at once as `cannot reach ADDRESS (why)` instead of
   * being retried. Once any call has reached a server, failures to connect
   * are a restart or a deploy, and are retried and resumed as usual.
   */
  private readonly firstContact = (error: unknown): TokenRelayError | undefined =>
    this.options.firstConnect === 'fail' && !this.reached && neverConnected(error) ? unreachable(this.given, error) : undefined;
}

/**
 * Makes a client with tokenrelay's channel options (keepalive, small retry
 * buffer) and interceptors.
 *
 * @param addresses Where the servers are: `'host:port'` (one connection, as
 *   before); `['10.0.0.1:50051', '10.0.0.2:50051']` or `'a:50051,b:50051'`
 *   (calls, and the Subscribe that resumes a stream, are balanced
 *   round_robin over them, skipping servers that are down); or a target URI:
 *   `'dns:///relay.internal:50051'` (round_robin over every address the name
 *   resolves to, re-resolved at most every 30 s), `'ipv4:…'`, `'ipv6:…'`.
 *   Throws an Error naming the entry for an empty list, an empty entry or an
 *   entry without a port.
 */
export function createClient(addresses: ClientAddresses, options: ClientOptions = {}): TokenRelayClient {
  return new TokenRelayClient(addresses, options);
}
