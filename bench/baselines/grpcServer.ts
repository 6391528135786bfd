/**
 * Baseline: a plain grpc-js server, no interceptors, no batching.
 * - Generate streams one TokenChunk per token, fed by the same token source as
 *   tokenrelay's sim model, honouring write()'s backpressure like any careful
 *   grpc-js server.
 * - Publish → Subscribe is a bare forwarder (for scenario (d)): each published
 *   chunk goes straight to the stream's one subscriber as one TokenChunk; no
 *   log, no resume, no backpressure; chunks published before the subscriber
 *   came are held for it.
 * Started by the harness with an IPC channel: it reports {type:'ready', port}
 * and answers memory probes.
 */
import {
  Metadata,
  type sendUnaryData,
  Server,
  ServerCredentials,
  type ServerReadableStream,
  type ServerWritableStream,
  status,
} from '@grpc/grpc-js';
import {
  DataServiceService,
  FinishReason,
  type GenerateRequest,
  type PublishRequest,
  type PublishResponse,
  type SubscribeRequest,
  type TokenChunk,
} from '../../src/gen/tokenrelay/v1/data_service';
import { SimText } from '../../src/core/models/sim';
import { installProbe } from '../lib/probe';

function unimplemented(_call: unknown, callback?: (error: { code: number; details: string }) => void): void {
  callback?.({ code: status.UNIMPLEMENTED, details: 'the baseline serves Generate only' });
}

async function generate(call: ServerWritableStream<GenerateRequest, TokenChunk>): Promise<void> {
  const request = call.request;
  const maxTokens = request.maxTokens ?? 256;
  const text = new SimText(request.seed ?? 0, request.temperature ?? 1, request.topP ?? 1);
  let gone = false;
  call.on('cancelled', () => (gone = true));
  let seq = 0;
  for (;;) {
    if (gone) return;
    const token = text.next();
    const last = seq === maxTokens - 1;
    const ready = call.write({
      streamId: '',
      seq,
      tokens: [token],
      finishReason: last ? FinishReason.FINISH_REASON_LENGTH : FinishReason.FINISH_REASON_UNSPECIFIED,
      usage: last ? { promptTokens: 1, completionTokens: maxTokens, cachedTokens: 0 } : undefined,
      heartbeat: false,
    });
    seq++;
    if (last) break;
    if (!ready) await new Promise((resolve) => call.once('drain', resolve));
  }
  call.end();
}

interface Forwarded {
  subscriber?: ServerWritableStream<SubscribeRequest, TokenChunk>;
  held: TokenChunk[];
}

const forwarded = new Map<string, Forwarded>();

function publish(call: ServerReadableStream<PublishRequest, PublishResponse>, callback: sendUnaryData<PublishResponse>): void {
  let streamId = '';
  let accepted = 0;
  call.on('data', (message: PublishRequest) => {
    if (message.open) {
      streamId = message.open.streamId;
      forwarded.set(streamId, { held: [] });
      call.sendMetadata(new Metadata());
      return;
    }
    const target = forwarded.get(streamId);
    if (!message.chunk || !target) return;
    accepted += message.chunk.tokens.length;
    const chunk = { ...message.chunk, streamId };
    if (target.subscriber) target.subscriber.write(chunk);
    else target.held.push(chunk);
  });
  call.on('end', () => {
    const target = forwarded.get(streamId);
    forwarded.delete(streamId);
    target?.subscriber?.end();
    callback(null, { streamId, tokensAccepted: accepted, nextSeq: accepted });
  });
  call.on('error', () => forwarded.delete(streamId));
}

function subscribe(call: ServerWritableStream<SubscribeRequest, TokenChunk>): void {
  const target = forwarded.get(call.request.streamId);
  if (!target) {
    call.emit('error', { code: status.NOT_FOUND, details: 'no such stream' });
    return;
  }
  target.subscriber = call;
  for (const chunk of target.held.splice(0)) call.write(chunk);
  call.on('cancelled', () => (target.subscriber = undefined));
}

function main(): void {
  installProbe();
  const server = new Server();
  server.addService(DataServiceService, {
    generate: (call: ServerWritableStream<GenerateRequest, TokenChunk>) => void generate(call),
    subscribe,
    publish,
    listModels: unimplemented,
    streamData: unimplemented,
    cancel: unimplemented,
  });
  server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => {
    if (error) throw error;
    process.send?.({ type: 'ready', port });
  });
  process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
}

main();
