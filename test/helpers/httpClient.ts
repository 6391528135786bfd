import http from 'node:http';

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON. */
  json<T = any>(): T; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string | number>;
  /** A string or Buffer is sent as is; anything else as JSON. */
  body?: unknown;
  /** Fails the test instead of hanging when no complete answer comes within this. Default 5000. */
  timeoutMs?: number;
  /** Send the body with chunked transfer encoding, in 16 KiB pieces, so the server cannot know its size up front. */
  chunked?: boolean;
}

/** One HTTP/1.1 request to 127.0.0.1:port, read to the end; a hung response is an error, not a hung test. */
export function httpRequest(port: number, path: string, options: HttpRequestOptions = {}): Promise<HttpReply> {
  const { body } = options;
  const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? (payload === undefined ? 'GET' : 'POST'),
        // A body is JSON, as every real client labels it; a test of another type sets its own.
        headers: payload === undefined ? options.headers : { 'content-type': 'application/json', ...options.headers },
        agent: false,
      },
      (response) => {
        const parts: Buffer[] = [];
        response.on('data', (part: Buffer) => parts.push(part));
        response.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(parts).toString('utf8');
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json: () => JSON.parse(text) });
        });
        response.on('error', reject);
      },
    );
    const timer = setTimeout(() => {
      request.destroy();
      reject(new Error(`${options.method ?? 'request'} ${path}: no complete answer within ${options.timeoutMs ?? 5000} ms`));
    }, options.timeoutMs ?? 5000);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    if (options.chunked && payload !== undefined) {
      const bytes = Buffer.from(payload);
      for (let offset = 0; offset < bytes.length; offset += 16_384) request.write(bytes.subarray(offset, offset + 16_384));
      request.end();
    } else {
      request.end(payload);
    }
  });
}

/** Asserts an OpenAI-shaped error body: {error: {message, type, param, code}} with the given status and fields. */
export function expectOpenAiError(reply: HttpReply, status: number, fields: { param?: string | null; code?: string } = {}): void {
  expect({ status: reply.status, contentType: reply.headers['content-type'] }).toEqual({
    status,
    contentType: 'application/json; charset=utf-8',
  });
  const body = reply.json();
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof body.error.message).toBe('string');
  expect(typeof body.error.type).toBe('string');
  if (fields.param !== undefined) expect(body.error.param).toBe(fields.param);
  if (fields.code !== undefined) expect(body.error.code).toBe(fields.code);
}
