import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * Fake upstream model servers for tests: a real HTTP/1.1 server on
 * 127.0.0.1 that answers each request with the next scripted reply, speaking
 * the OpenAI chat-completions SSE format and Ollama's NDJSON byte for byte as
 * the real servers do, and able to break the way real ones break.
 */

/** One request the fake received. */
export interface UpstreamRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The JSON body, parsed. */
  body: Record<string, unknown>;
  /** performance.now() when the request arrived. */
  receivedAtMs: number;
  /** performance.now() when the client closed the connection before the reply ended, if it did. */
  closedEarlyAtMs?: number;
  /** Which TCP connection carried it (1, 2, ...): equal numbers mean a reused connection. */
  connection: number;
}

/** Writes one reply. `closed` resolves when the client goes away before the reply ends. */
export type Reply = (res: http.ServerResponse, request: UpstreamRequest, closed: Promise<void>) => Promise<void> | void;

export class FakeUpstream {
  readonly requests: UpstreamRequest[] = [];
  private readonly connections = new WeakMap<Socket, number>();
  private connectionCount = 0;
  /** Requests before the current script: its first reply answers the next one. */
  private scriptStart = 0;

  private constructor(
    private readonly server: http.Server,
    private replies: Reply[],
  ) {}

  /** Starts a fake whose n-th request gets replies[n]; the last reply answers every request after. */
  static async start(...replies: Reply[]): Promise<FakeUpstream> {
    const server = http.createServer();
    const fake = new FakeUpstream(server, replies);
    server.on('connection', (socket: Socket) => {
      socket.setNoDelay(true);
      fake.connections.set(socket, ++fake.connectionCount);
    });
    server.on('request', (req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** The base URL, e.g. http://127.0.0.1:PORT (add /v1 for an OpenAI-style path). */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Requests received: attempts, retries included. */
  get attempts(): number {
    return this.requests.length;
  }

  /** TCP connections accepted. */
  get connectionsOpened(): number {
    return this.connectionCount;
  }

  /** Replaces the script: the next request gets replies[0], and so on; the last repeats. */
  script(...replies: Reply[]): void {
    this.replies = replies;
    this.scriptStart = this.requests.length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const receivedAtMs = performance.now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const request: UpstreamRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      receivedAtMs,
      connection: this.connections.get(req.socket) ?? 0,
    };
    const reply = this.replies[Math.min(this.requests.length - this.scriptStart, this.replies.length - 1)];
    this.requests.push(request);
    const closed = new Promise<void>((resolve) => {
      res.on('close', () => {
        if (!res.writableFinished) {
          request.closedEarlyAtMs = performance.now();
          resolve();
        }
      });
    });
    try {
      await reply(res, request, closed);
    } catch {
      // A reply interrupted by the client going away.
    }
  }
}

/** Resolves after ms. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Writes text in pieces cut at the given byte offsets, pausing between them
 * so each lands in its own TCP read (the client sees a line, an event, even a
 * UTF-8 character split in two).
 */
export async function writeInPieces(res: http.ServerResponse, text: string, cuts: number[], gapMs = 3): Promise<void> {
  const bytes = Buffer.from(text, 'utf8');
  let from = 0;
  for (const cut of [...cuts.filter((at) => at > 0 && at < bytes.length).sort((a, b) => a - b), bytes.length]) {
    if (res.destroyed) return;
    res.write(bytes.subarray(from, cut));
    from = cut;
    await delay(gapMs);
  }
}

/** Byte offsets that cut text every `every` bytes: many split lines and events. */
export function everyBytes(text: string, every: number): number[] {
  const length = Buffer.byteLength(text);
  const cuts: number[] = [];
  for (let at = every; at < length; at += every) cuts.push(at);
  return cuts;
}

// ---------------------------------------------------------------------------
// OpenAI chat-completions streaming (SSE), as servers send it.

export type OpenAiStyle = 'vllm' | 'openai' | 'llamacpp';

export interface OpenAiStreamOptions {
  style?: OpenAiStyle;
  finishReason?: string;
  usage?: { prompt: number; completion: number };
  /** Line ends: "\n" (vLLM, OpenAI) or "\r\n" (servers built on sse-starlette, such as llama-cpp-python's). */
  newline?: '\n' | '\r\n';
  /** Insert comment lines as proxies and sse-starlette do (": keep-alive", ": ping - ..."). */
  keepAlive?: boolean;
  /** End with `data: [DONE]`. Default true. */
  done?: boolean;
  model?: string;
}

const CREATED = 1_730_000_000;

/** The events of a chat-completions stream, each a complete `data: ...` event with its blank line. */
export function openAiEvents(tokens: readonly string[], options: OpenAiStreamOptions = {}): string[] {
  const { style = 'vllm', finishReason = 'stop', usage, newline = '\n', keepAlive = false, done = true } = options;
  const model = options.model ?? 'meta-llama/Llama-3.1-8B-Instruct';
  const id = 'chatcmpl-8c2d6e5b1f7a4f0e9c3b2a1d0e9f8a7b';
  const event = (payload: unknown) => `data: ${JSON.stringify(payload)}${newline}${newline}`;
  const head = (extra: Record<string, unknown> = {}) =>
    style === 'openai'
      ? {
          id,
          object: 'chat.completion.chunk',
          created: CREATED,
          model,
          service_tier: 'default',
          system_fingerprint: 'fp_f33640a400',
          ...extra,
        }
      : { id, object: 'chat.completion.chunk', created: CREATED, model, ...extra };
  const usageField = style === 'openai' ? { usage: null } : {};
  const usageObject = usage && {
    prompt_tokens: usage.prompt,
    completion_tokens: usage.completion,
    total_tokens: usage.prompt + usage.completion,
  };
  const events: string[] = [];
  if (keepAlive) events.push(`: ping - 2024-11-02 10:15:00.123456+00:00${newline}${newline}`);
  events.push(
    event({
      ...head(),
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
      ...usageField,
    }),
  );
  tokens.forEach((token, index) => {
    events.push(
      event({ ...head(), choices: [{ index: 0, delta: { content: token }, logprobs: null, finish_reason: null }], ...usageField }),
    );
    if (keepAlive && index === Math.floor(tokens.length / 2)) events.push(`: keep-alive${newline}${newline}`);
  });
  if (style === 'llamacpp') {
    // llama.cpp's server puts usage and timings in the chunk that carries the finish reason.
    events.push(
      event({
        choices: [{ finish_reason: finishReason, index: 0, delta: {} }],
        created: CREATED,
        id,
        model,
        object: 'chat.completion.chunk',
        ...(usageObject ? { usage: usageObject } : {}),
        timings: { prompt_n: usage?.prompt ?? 0, predicted_n: tokens.length, predicted_ms: 120.5 },
      }),
    );
  } else {
    const delta = style === 'openai' ? {} : { content: '' };
    const stopReason = style === 'vllm' ? { stop_reason: null } : {};
    events.push(
      event({ ...head(), choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason, ...stopReason }], ...usageField }),
    );
    if (usageObject) {
      const details =
        style === 'openai' ? { prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } } : {};
      events.push(event({ ...head(), choices: [], usage: { ...usageObject, ...details } }));
    }
  }
  if (done) events.push(`data: [DONE]${newline}${newline}`);
  return events;
}

export const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' };

/** A 200 chat-completions stream, written in pieces cut every `pieceBytes` bytes. */
export function openAiReply(tokens: readonly string[], options: OpenAiStreamOptions & { pieceBytes?: number } = {}): Reply {
  return async (res) => {
    const text = openAiEvents(tokens, options).join('');
    res.writeHead(200, SSE_HEADERS);
    await writeInPieces(res, text, everyBytes(text, options.pieceBytes ?? 37), 1);
    res.end();
  };
}

/** Streams tokens one event at a time, intervalMs apart, for as long as the client stays. */
export function openAiSlowReply(tokens: readonly string[], intervalMs: number): Reply {
  return async (res, _request, closed) => {
    let gone = false;
    void closed.then(() => (gone = true));
    const events = openAiEvents(tokens, { usage: { prompt: 3, completion: tokens.length } });
    res.writeHead(200, SSE_HEADERS);
    for (const event of events) {
      if (gone) return;
      res.write(event);
      await delay(intervalMs);
    }
    res.end();
  };
}

// ---------------------------------------------------------------------------
// Ollama /api/chat (NDJSON), as Ollama sends it.

export interface OllamaStreamOptions {
  doneReason?: string;
  promptEvalCount?: number;
  model?: string;
}

/** The lines of an /api/chat stream, each JSON object with its newline. */
export function ollamaLines(tokens: readonly string[], options: OllamaStreamOptions = {}): string[] {
  const { doneReason = 'stop', promptEvalCount = 26, model = 'llama3.2' } = options;
  const createdAt = (index: number) => `2024-11-02T10:15:${String(index % 60).padStart(2, '0')}.385406455Z`;
  const lines = tokens.map(
    (token, index) =>
      `${JSON.stringify({ model, created_at: createdAt(index), message: { role: 'assistant', content: token }, done: false })}\n`,
  );
  lines.push(
    `${JSON.stringify({
      model,
      created_at: createdAt(tokens.length),
      message: { role: 'assistant', content: '' },
      done_reason: doneReason,
      done: true,
      total_duration: 4883583458,
      load_duration: 1334875,
      prompt_eval_count: promptEvalCount,
      prompt_eval_duration: 342546000,
      eval_count: tokens.length,
      eval_duration: 4535599000,
    })}\n`,
  );
  return lines;
}

export const NDJSON_HEADERS = { 'content-type': 'application/x-ndjson' };

/** A 200 /api/chat stream, written in pieces cut every `pieceBytes` bytes. */
export function ollamaReply(tokens: readonly string[], options: OllamaStreamOptions & { pieceBytes?: number } = {}): Reply {
  return async (res) => {
    const text = ollamaLines(tokens, options).join('');
    res.writeHead(200, NDJSON_HEADERS);
    await writeInPieces(res, text, everyBytes(text, options.pieceBytes ?? 41), 1);
    res.end();
  };
}

// ---------------------------------------------------------------------------
// Faults.

/** An error answer: status, JSON (or text) body, extra headers. */
export function statusReply(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return (res) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const type = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
    res.writeHead(status, { 'content-type': type, ...headers });
    res.end(text);
  };
}

/** nginx's 502 page, as a reverse proxy in front of a dead model server sends it. */
export const NGINX_502 =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n';

/** An HTML page with the given status. */
export function htmlReply(status: number, html = NGINX_502): Reply {
  return (res) => {
    res.writeHead(status, { 'content-type': 'text/html' });
    res.end(html);
  };
}

/** Resets the TCP connection (RST) before sending any headers. */
export function resetReply(): Reply {
  return (res) => {
    res.socket?.resetAndDestroy();
  };
}

/** Sends these bytes of a 200 answer, then resets the connection. */
export function resetAfterReply(text: string, headers: Record<string, string> = SSE_HEADERS): Reply {
  return async (res) => {
    res.writeHead(200, headers);
    await writeInPieces(res, text, everyBytes(text, 64), 1);
    await delay(20);
    res.socket?.resetAndDestroy();
  };
}

/** Sends the headers (and optionally some bytes), then nothing more until the client leaves. */
export function stallReply(text = '', headers: Record<string, string> = SSE_HEADERS): Reply {
  return async (res, _request, closed) => {
    res.writeHead(200, headers);
    res.flushHeaders();
    if (text) res.write(text);
    await closed;
  };
}

/** Waits until the fake saw each of these requests closed by the client. */
export async function waitForClose(requests: UpstreamRequest[], timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (requests.some((request) => request.closedEarlyAtMs === undefined)) {
    if (performance.now() > deadline) throw new Error('the upstream never saw its request closed');
    await delay(5);
  }
}
