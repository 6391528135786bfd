import type { ServerResponse } from 'node:http';
import { type Chunk, type ChunkOutput, ChunkWriter } from '../core/pump';
import { OutputState } from '../core/outputState';
import { SSE_HEARTBEAT } from './sse';

/**
 * Tracks an HTTP response the way CallOutput tracks a gRPC call: whether the
 * consumer went away (the connection closed before we ended the response),
 * and when a full socket buffer has drained. Node emits 'close' on every
 * response, also after a normal end, so a response we ended ourselves is
 * never taken for a consumer that left.
 */
export class HttpOutput {
  private readonly state = new OutputState();

  constructor(private readonly response: ServerResponse) {
    response.on('drain', () => this.state.wakeDrainWaiters());
    response.on('close', () => {
      // writableEnded: the handler ended the response itself (sendJson), a normal end.
      if (!this.response.writableEnded) this.state.markGone();
    });
    // The connection may have closed while the request body was being read.
    if (response.destroyed && !response.writableEnded) this.state.markGone();
  }

  /** Whether nothing more can be sent: the consumer went away, or the response already ended. */
  get gone(): boolean {
    return this.state.closed || this.response.destroyed;
  }

  /** Calls listener once when the consumer goes away (never after a normal end). */
  onGone(listener: () => void): void {
    this.state.onGone(listener);
  }

  /** Writes text; false means the socket's buffer is full: wait for drained(). */
  write(text: string): boolean {
    if (this.gone) return true;
    return this.response.write(text);
  }

  drained(): Promise<void> {
    if (this.gone) return Promise.resolve();
    return this.state.drained();
  }

  /** Ends the response, with a last piece of text. */
  end(text?: string): void {
    if (this.response.destroyed || !this.state.finish()) return;
    this.response.end(text);
  }
}

/**
 * The pump's ChunkOutput over an SSE response: each chunk as the text
 * `format` makes of it, heartbeats as SSE comments. Through it the HTTP edge
 * shares the pump's coalescing, heartbeats and backpressure with gRPC:
 * write() returns what res.write() returned, and the pump waits for 'drain'.
 */
export function sseChunkOutput(output: HttpOutput, format: (chunk: Chunk) => string, onTokens: (count: number) => void): ChunkOutput {
  return new ChunkWriter((chunk) => {
    if (chunk.heartbeat) return output.write(SSE_HEARTBEAT);
    if (chunk.tokens.length > 0) onTokens(chunk.tokens.length);
    return output.write(format(chunk));
  }, output);
}
