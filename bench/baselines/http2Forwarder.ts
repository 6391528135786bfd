/**
 * Baseline for scenario (d): Publish → Subscribe forwarding with the gRPC
 * wire protocol written directly on node:http2 (length-prefixed protobuf
 * messages, grpc-status trailers), without grpc-js. The same forwarding as
 * grpcServer.ts's, so the two together show what grpc-js's per-message path
 * costs and what a transport without it would need (RESULTS.md, (d)). Serves
 * Publish and Subscribe only; no deadlines, auth, log or retention. Started
 * by the harness with an IPC channel: it reports {type:'ready', port} and
 * answers memory probes.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { PublishRequest, PublishResponse, SubscribeRequest, type TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { encodeTokenChunk } from '../../src/grpc/tokenChunkEncoder';
import { Deframer, frame } from '../load/rawGrpc';
import { installProbe } from '../lib/probe';

const SERVICE = '/tokenrelay.v1.DataService';
const GRPC_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };

interface Forwarded {
  subscriber?: http2.ServerHttp2Stream;
  held: TokenChunk[];
}

const forwarded = new Map<string, Forwarded>();

/** Ends a call with a grpc-status in the trailers, after an optional last message. */
function finish(stream: http2.ServerHttp2Stream, code: number, last?: Uint8Array): void {
  if (stream.destroyed || stream.closed) return;
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(code) }));
  if (last) stream.end(frame(last));
  else stream.end();
}

function publish(stream: http2.ServerHttp2Stream): void {
  let streamId = '';
  let accepted = 0;
  const deframer = new Deframer();
  stream.on('data', (data: Buffer) =>
    deframer.push(data, (bytes) => {
      const message = PublishRequest.decode(bytes);
      if (message.open) {
        streamId = message.open.streamId;
        forwarded.set(streamId, { held: [] });
        stream.respond(GRPC_HEADERS, { waitForTrailers: true });
        return;
      }
      const target = forwarded.get(streamId);
      if (!message.chunk || !target) return;
      accepted += message.chunk.tokens.length;
      const chunk = { ...message.chunk, streamId };
      if (target.subscriber) target.subscriber.write(frame(encodeTokenChunk(chunk)));
      else target.held.push(chunk);
    }),
  );
  stream.on('end', () => {
    const target = forwarded.get(streamId);
    forwarded.delete(streamId);
    if (target?.subscriber) finish(target.subscriber, 0);
    finish(stream, 0, PublishResponse.encode({ streamId, tokensAccepted: accepted, nextSeq: accepted }).finish());
  });
  stream.on('close', () => forwarded.delete(streamId));
}

function subscribe(stream: http2.ServerHttp2Stream): void {
  const deframer = new Deframer();
  stream.on('data', (data: Buffer) =>
    deframer.push(data, (bytes) => {
      const target = forwarded.get(SubscribeRequest.decode(bytes).streamId);
      if (!target) {
        stream.respond({ ...GRPC_HEADERS, 'grpc-status': '5', 'grpc-message': 'no such stream' }, { endStream: true });
        return;
      }
      stream.respond(GRPC_HEADERS, { waitForTrailers: true });
      target.subscriber = stream;
      for (const chunk of target.held.splice(0)) stream.write(frame(encodeTokenChunk(chunk)));
      stream.on('close', () => {
        if (target.subscriber === stream) target.subscriber = undefined;
      });
    }),
  );
}

function main(): void {
  installProbe();
  const server = http2.createServer({ maxSessionMemory: 256 });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const path = headers[':path'];
    if (path === `${SERVICE}/Publish`) publish(stream);
    else if (path === `${SERVICE}/Subscribe`) subscribe(stream);
    else
      stream.respond(
        { ...GRPC_HEADERS, 'grpc-status': '12', 'grpc-message': 'the baseline serves Publish and Subscribe only' },
        { endStream: true },
      );
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port }));
  process.once('SIGTERM', () => {
    server.close();
    process.exit(0);
  });
}

main();
