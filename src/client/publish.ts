import type { CallOptions, ClientWritableStream, Metadata } from '@grpc/grpc-js';
import type { DataServiceClient, PublishRequest, PublishResponse } from '../gen/tokenrelay/v1/data_service';
import { TokenChunk } from '../gen/tokenrelay/v1/data_service';
import { type BackoffOptions, RetryBudget, sleep } from '../common/backoff';
import { NEXT_SEQ_HEADER } from '../common/headers';
import { TokenRelayError, isTransient } from './errors';

export interface PublishOptions {
  /** A label for the producing model, for the server's logs and metrics. */
  model?: string;
  /** Aborting it ends the call; the stream ends with an error its consumers see. */
  signal?: AbortSignal;
  /**
   * After a lost connection, reopen the stream and resend from what the
   * server has not stored (sequence numbers make it idempotent). Default
   * true; `false` turns it off, an object tunes the backoff.
   */
  resume?: boolean | BackoffOptions;
  /** Most tokens per message when the source is a plain (sync) iterable. Default 256. */
  chunkTokens?: number;
  metadata?: Metadata;
}

/** Tokens to publish: strings, or arrays of strings sent together in one message. */
export type TokenSource = Iterable<string | string[]> | AsyncIterable<string | string[]>;

async function* batches(source: TokenSource, chunkTokens: number): AsyncGenerator<string[]> {
  if (Symbol.asyncIterator in source) {
    for await (const item of source) yield typeof item === 'string' ? [item] : item;
    return;
  }
  let batch: string[] = [];
  for (const item of source) {
    if (typeof item === 'string') batch.push(item);
    else batch.push(...item);
    if (batch.length >= chunkTokens) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * Publishes a producer's tokens to a stream, surviving reconnects: every
 * token the source yields reaches the stream exactly once, in order. Keeps
 * the tokens it sent until the stream ends, to resend after a reconnect.
 */
export async function publishStream(
  client: DataServiceClient,
  streamId: string,
  source: TokenSource,
  options: PublishOptions,
  metadata: () => Metadata,
  callOptions: () => CallOptions,
): Promise<PublishResponse> {
  const resume = options.resume !== false;
  const budget = new RetryBudget(typeof options.resume === 'object' ? options.resume : {});
  const sent: string[] = [];
  const pending = batches(source, options.chunkTokens ?? 256);
  let sourceDone = false;
  let startSeq: number | undefined;
  for (;;) {
    if (options.signal?.aborted) throw options.signal.reason;
    let call: ClientWritableStream<PublishRequest> | undefined;
    const response = new Promise<PublishResponse>((resolve, reject) => {
      call = client.publish(metadata(), callOptions(), (error, value) => (error ? reject(error) : resolve(value)));
    });
    response.catch(() => undefined); // observed below; never unhandled
    const writer = call as ClientWritableStream<PublishRequest>;
    const onAbort = () => writer.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const headers = new Promise<Metadata>((resolve) => writer.once('metadata', resolve));
      writer.write({ open: { streamId, model: options.model ?? '', resumable: resume } });
      const nextSeq = Number(((await Promise.race([headers, response])) as Metadata).get(NEXT_SEQ_HEADER)[0] ?? 0);
      startSeq ??= nextSeq;
      const write = async (seq: number, tokens: string[]) => {
        if (!writer.write({ chunk: TokenChunk.fromPartial({ seq, tokens }) })) {
          await Promise.race([new Promise((resolve) => writer.once('drain', resolve)), response]);
        }
      };
      // sent[i] has seq startSeq + i; resend what the server does not have.
      const stored = nextSeq - startSeq;
      for (let index = stored; index < sent.length; index += 256) await write(startSeq + index, sent.slice(index, index + 256));
      while (!sourceDone) {
        const next = await pending.next();
        if (next.done) {
          sourceDone = true;
          break;
        }
        const seq = startSeq + sent.length;
        sent.push(...next.value);
        await write(seq, next.value);
        budget.reset();
      }
      writer.end();
      const result = await response;
      // Across reconnects, what this publish added is everything past where it started.
      return { ...result, tokensAccepted: result.nextSeq - startSeq };
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      const delayMs = resume && isTransient(error) ? budget.next() : undefined;
      if (delayMs === undefined) throw TokenRelayError.from(error);
      writer.cancel();
      await sleep(delayMs, options.signal);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }
}
