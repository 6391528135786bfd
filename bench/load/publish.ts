import type { ClientWritableStream, ServiceError } from '@grpc/grpc-js';
import type { PublishRequest, PublishResponse } from '../../src/gen/tokenrelay/v1/data_service';
import { simTokens } from '../../src/core/models/sim';
import { nowNs } from '../lib/stats';
import { chunkMessage, tokensUpFront } from './channel';
import { clientFor } from './clients';

/** One open Publish call of this worker. */
interface Publication {
  call: ClientWritableStream<PublishRequest>;
  response: Promise<PublishResponse>;
  nextSeq: number;
  /** Tokens written that grpc-js took without asking us to wait. */
  written: number;
  burst?: Promise<BurstResult>;
}

const publications = new Map<string, Publication>();

function publication(streamId: string): Publication {
  const found = publications.get(streamId);
  if (!found) throw new Error(`no open Publish for ${streamId}`);
  return found;
}

/** Opens a Publish call on the worker's publishing connection; resolves once the server accepted the open. */
async function open(params: { address: string; streamId: string }): Promise<void> {
  let call!: ClientWritableStream<PublishRequest>;
  const response = new Promise<PublishResponse>((resolve, reject) => {
    call = clientFor(params.address, 'publish').publish((error: ServiceError | null, reply?: PublishResponse) =>
      error ? reject(error) : resolve(reply as PublishResponse),
    );
  });
  response.catch(() => undefined);
  const accepted = new Promise<void>((resolve, reject) => {
    call.once('metadata', () => resolve());
    response.catch(reject);
  });
  call.write({ open: { streamId: params.streamId, model: 'bench', resumable: false } });
  publications.set(params.streamId, { call, response, nextSeq: 0, written: 0 });
  await accepted;
}

export interface BurstParams {
  streamId: string;
  tokens: number;
  /** Tokens per Publish message. */
  chunkTokens: number;
  seed: number;
  /** Half-close after the last chunk and wait for the PublishResponse. */
  end: boolean;
}

export interface BurstResult {
  tokens: number;
  /** UTF-8 bytes of the tokens' text. */
  textBytes: number;
  /** CLOCK_MONOTONIC ns: first write, last write taken, PublishResponse received (0 without end). */
  startNs: number;
  writtenNs: number;
  respondedNs: number;
  tokensAccepted: number;
}

/** Writes tokens as fast as grpc-js takes them (waiting on 'drain' when write() says so). */
async function burst(params: BurstParams): Promise<BurstResult> {
  const target = publication(params.streamId);
  const tokens = tokensUpFront(simTokens(params.seed, 1, 1), params.tokens);
  const textBytes = tokens.reduce((sum, token) => sum + Buffer.byteLength(token), 0);
  const startNs = nowNs();
  for (let index = 0; index < tokens.length; index += params.chunkTokens) {
    const batch = tokens.slice(index, index + params.chunkTokens);
    const ready = target.call.write(chunkMessage(target.nextSeq, batch));
    target.nextSeq += batch.length;
    target.written += batch.length;
    if (!ready) await new Promise((resolve) => target.call.once('drain', resolve));
  }
  const writtenNs = nowNs();
  if (!params.end) return { tokens: tokens.length, textBytes, startNs, writtenNs, respondedNs: 0, tokensAccepted: 0 };
  target.call.end();
  const response = await target.response;
  publications.delete(params.streamId);
  return { tokens: tokens.length, textBytes, startNs, writtenNs, respondedNs: nowNs(), tokensAccepted: response.tokensAccepted };
}

export const publishCommands = {
  'publish.open': open,
  'publish.burst': burst,
  /** Writes one token, so a subscriber can tell it is attached before a clock starts. */
  'publish.primer': async (params: { streamId: string }) => {
    const target = publication(params.streamId);
    target.call.write(chunkMessage(target.nextSeq++, ['primer']));
    target.written++;
  },
  /** Starts a burst and returns at once; see publish.progress. */
  'publish.start': async (params: BurstParams) => {
    publication(params.streamId).burst = burst({ ...params, end: false });
  },
  'publish.progress': async (params: { streamId: string }) => ({ written: publication(params.streamId).written }),
  'publish.cancel': async (params: { streamId: string }) => {
    publication(params.streamId).call.cancel();
    publications.delete(params.streamId);
  },
};
