import http2 from 'node:http2';
import net from 'node:net';

/**
 * Clients that send exactly the bytes a test gives them, for hostile input
 * that Node's own clients refuse to send (control bytes in a header value,
 * a request target no URL parser takes): raw HTTP/1.1 over a socket, and
 * gRPC frames over node:http2.
 */

/** What a raw HTTP/1.1 exchange came back with. */
export interface RawHttpReply {
  /** The status code of the response, or 0 if the connection closed without a status line. */
  status: number;
  /** The whole response as latin1 text. */
  text: string;
}

/**
 * Sends one request (the bytes as they are, so it should carry
 * `Connection: close`) and reads until the server closes the connection. A
 * server that neither answers nor closes within timeoutMs is an error: a
 * hung request is a failure, not a slow test.
 */
export function rawHttp(port: number, bytes: Buffer, timeoutMs = 5000): Promise<RawHttpReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms to ${JSON.stringify(bytes.toString('latin1').slice(0, 120))}`));
    }, timeoutMs);
    socket.on('data', (part) => parts.push(part));
    socket.on('error', () => undefined); // a reset after the answer is fine; 'close' follows
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(parts).toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3}) /.exec(text);
      resolve({ status: match ? Number(match[1]) : 0, text });
    });
    socket.end(bytes);
  });
}

/** A gRPC message on the wire: the 5-byte prefix (uncompressed, length) and the bytes. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** How a raw gRPC call ended. */
export interface RawGrpcReply {
  /** The HTTP status of the response headers (200 for any gRPC answer), or 0 when the stream was reset first. */
  httpStatus: number;
  /** grpc-status from the trailers (or a trailers-only response); undefined when there was none. */
  grpcStatus?: number;
  grpcMessage?: string;
  /** The HTTP/2 error code when the stream was reset instead of answered. */
  resetCode?: number;
}

/**
 * One gRPC call on an HTTP/2 session with exactly these request headers
 * (pseudo-headers and content-type are added unless given), these messages,
 * then END_STREAM. Resolves when the stream closes, whatever the answer; a
 * stream still open after timeoutMs is an error.
 */
export function rawGrpcCall(
  session: http2.ClientHttp2Session,
  path: string,
  headers: Record<string, string>,
  messages: Buffer[],
  timeoutMs = 5000,
): Promise<RawGrpcReply> {
  return new Promise((resolve, reject) => {
    const reply: RawGrpcReply = { httpStatus: 0 };
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`${path}: no end within ${timeoutMs} ms with headers ${JSON.stringify(headers)}`));
    }, timeoutMs);
    const readStatus = (fields: http2.IncomingHttpHeaders) => {
      if (fields['grpc-status'] !== undefined) reply.grpcStatus = Number(fields['grpc-status']);
      if (typeof fields['grpc-message'] === 'string') reply.grpcMessage = decodeURIComponent(fields['grpc-message']);
    };
    stream.on('response', (fields) => {
      reply.httpStatus = Number(fields[':status']);
      readStatus(fields);
    });
    stream.on('trailers', readStatus);
    stream.on('data', () => undefined);
    stream.on('error', () => undefined); // a reset: its code is read on close
    stream.on('close', () => {
      clearTimeout(timer);
      if (reply.grpcStatus === undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) reply.resetCode = stream.rstCode;
      resolve(reply);
    });
    for (const message of messages) stream.write(message);
    stream.end();
  });
}

/** Runs tasks with at most `limit` in flight; rejects with the first failure. */
export async function inParallel<Item>(items: readonly Item[], limit: number, task: (item: Item) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
