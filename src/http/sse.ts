import type { ServerResponse } from 'node:http';

/**
 * One Server-Sent Event. `id` is what a browser's EventSource sends back as
 * Last-Event-ID when it reconnects; data must be one line (JSON is).
 */
export function sseEvent(data: string, options: { id?: number; event?: string } = {}): string {
  let text = '';
  if (options.event !== undefined) text += `event: ${options.event}\n`;
  if (options.id !== undefined) text += `id: ${options.id}\n`;
  return `${text}data: ${data}\n\n`;
}

/** An SSE comment: ignored by every SSE parser, but it keeps proxies and idle timers from closing the connection. */
export const SSE_HEARTBEAT = ': heartbeat\n\n';

/** Starts an SSE response and sends its headers at once, so the client sees the stream id before the first token. */
export function startSse(response: ServerResponse, headers: Record<string, string>): void {
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    // nginx and similar proxies buffer responses unless told not to.
    'x-accel-buffering': 'no',
    ...headers,
  });
  response.flushHeaders();
}
