import http from 'node:http';

/** One Server-Sent Event as a client sees it. */
export interface SseEvent {
  /** The event's `id:`, or undefined when it has none. */
  id?: string;
  /** The event's `event:`; 'message' when it has none. */
  event: string;
  data: string;
}

/**
 * An SSE response read over a real socket, event by event, that a test can
 * cut at any moment (destroy()) the way a dropped connection or a closed tab
 * cuts it. Comments (heartbeats) are counted, not returned.
 */
export class SseConnection {
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  /** SSE comment lines seen (`: heartbeat`). */
  comments = 0;
  /** The body as text when the response was not SSE (an error). */
  body = '';
  private readonly events: SseEvent[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private failure: Error | undefined;
  private buffer = '';
  private pending: { id?: string; event?: string; data: string[] } = { data: [] };
  private request!: http.ClientRequest;
  private response: http.IncomingMessage | undefined;

  private constructor() {}

  /** Opens the connection and resolves once the response headers are in. */
  static open(
    port: number,
    path: string,
    options: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
  ): Promise<SseConnection> {
    const connection = new SseConnection();
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${path}: no response headers within 5000 ms`)), 5000);
      connection.request = http.request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: options.method ?? (payload ? 'POST' : 'GET'),
          headers: payload ? { 'content-type': 'application/json', ...options.headers } : options.headers,
          agent: false,
        },
        (response) => {
          clearTimeout(timer);
          connection.response = response;
          connection.status = response.statusCode ?? 0;
          connection.headers = response.headers;
          const sse = String(response.headers['content-type']).startsWith('text/event-stream');
          response.setEncoding('utf8');
          response.on('data', (text: string) => {
            if (sse) connection.feed(text);
            else connection.body += text;
          });
          response.on('end', () => connection.finish());
          response.on('error', (error) => connection.finish(error));
          response.on('close', () => connection.finish());
          resolve(connection);
        },
      );
      connection.request.on('error', (error) => {
        clearTimeout(timer);
        connection.finish(error);
        reject(error);
      });
      connection.request.end(payload);
    });
  }

  /** The next event; undefined when the response ended. Fails after timeoutMs without one. */
  async next(timeoutMs = 5000): Promise<SseEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length === 0) {
      if (this.failure) throw this.failure;
      if (this.ended) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no SSE event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.events.shift();
  }

  /** Every event until the response ends. */
  async rest(timeoutMs = 5000): Promise<SseEvent[]> {
    const events: SseEvent[] = [];
    for (let event = await this.next(timeoutMs); event; event = await this.next(timeoutMs)) events.push(event);
    return events;
  }

  /** Stops reading: the server's writes back up (a slow reader). */
  pause(): void {
    this.response?.pause();
  }

  resume(): void {
    this.response?.resume();
  }

  /** Cuts the connection, as a closed tab or a dropped network does. */
  destroy(): void {
    this.request.destroy();
    this.response?.destroy();
  }

  private feed(text: string): void {
    this.buffer += text;
    const lines = this.buffer.split('\n');
    this.buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') {
        if (this.pending.data.length > 0) {
          this.events.push({ id: this.pending.id, event: this.pending.event ?? 'message', data: this.pending.data.join('\n') });
        }
        this.pending = { data: [] };
        continue;
      }
      if (line.startsWith(':')) {
        this.comments++;
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') this.pending.data.push(value);
      else if (field === 'id') this.pending.id = value;
      else if (field === 'event') this.pending.event = value;
    }
    this.wake();
  }

  private finish(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    // An aborted response after a normal end is not a failure.
    if (error && !this.response?.complete) this.failure = error;
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}
