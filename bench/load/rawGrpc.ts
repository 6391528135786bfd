/**
 * A bare gRPC client on node:http2: length-prefixed protobuf messages (the
 * generated ts-proto codecs) on HTTP/2 streams, nothing else. Scenario (d)
 * uses it for its producer and consumer, because 50,000 messages/s each way
 * through grpc-js clients would make the load generator, not the relay, the
 * bottleneck on this machine. It speaks the same wire protocol; the server
 * cannot tell it from any other gRPC client.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { PublishRequest, SubscribeRequest, TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';

const SERVICE = '/tokenrelay.v1.DataService';

/** A gRPC message on the wire: 1 byte "not compressed", 4 bytes big-endian length, the message. */
export function frame(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(5 + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, 5);
  return framed;
}

/** Splits a stream of bytes into gRPC messages. */
export class Deframer {
  private pending: Buffer = Buffer.alloc(0);

  push(data: Buffer, onMessage: (message: Buffer) => void): void {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    let offset = 0;
    while (this.pending.length - offset >= 5) {
      const length = this.pending.readUInt32BE(offset + 1);
      if (this.pending.length - offset - 5 < length) break;
      onMessage(this.pending.subarray(offset + 5, offset + 5 + length));
      offset += 5 + length;
    }
    this.pending = this.pending.subarray(offset);
  }
}

/** One HTTP/2 connection to a gRPC server. */
export class RawConnection {
  private readonly session: http2.ClientHttp2Session;

  constructor(address: string) {
    const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
    this.session = http2.connect(`http://${address}`, {
      maxSessionMemory: 256,
      // As grpc-js does for its connections: no Nagle delay on small messages.
      createConnection: () => net.connect({ host, port, noDelay: true }),
    });
    this.session.on('error', () => undefined);
  }

  private request(method: string): http2.ClientHttp2Stream {
    const stream = this.session.request({
      ':method': 'POST',
      ':path': `${SERVICE}/${method}`,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.on('error', () => undefined);
    return stream;
  }

  /** A Publish call: opens the stream; resolves once the server accepted the open (its response headers). */
  publish(streamId: string): Promise<RawPublish> {
    const stream = this.request('Publish');
    stream.write(frame(PublishRequest.encode({ open: { streamId, model: 'bench', resumable: false } }).finish()));
    return new Promise((resolve, reject) => {
      stream.once('response', () => resolve(new RawPublish(stream)));
      stream.once('error', reject);
    });
  }

  /** A Subscribe call; onChunk gets each TokenChunk; onEnd the grpc-status (0 is OK). */
  subscribe(request: SubscribeRequest, onChunk: (chunk: TokenChunk) => void, onEnd: (status: number) => void): http2.ClientHttp2Stream {
    const stream = this.request('Subscribe');
    const deframer = new Deframer();
    let status = 2; // UNKNOWN until trailers say otherwise
    stream.on('data', (data: Buffer) => deframer.push(data, (message) => onChunk(TokenChunk.decode(message))));
    stream.on('trailers', (trailers) => (status = Number(trailers['grpc-status'] ?? 2)));
    stream.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) status = Number(headers['grpc-status']);
    });
    stream.on('close', () => onEnd(status));
    stream.end(frame(SubscribeRequest.encode(request).finish()));
    return stream;
  }

  close(): void {
    this.session.destroy();
  }
}

export class RawPublish {
  constructor(private readonly stream: http2.ClientHttp2Stream) {}

  /** Writes one chunk of tokens at seq. */
  write(seq: number, tokens: string[]): void {
    const message = { chunk: { streamId: '', seq, tokens, finishReason: 0, usage: undefined, heartbeat: false } };
    this.stream.write(frame(PublishRequest.encode(message).finish()));
  }

  /** Half-closes: the stream ends normally. */
  end(): void {
    this.stream.end();
  }

  cancel(): void {
    this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }
}
