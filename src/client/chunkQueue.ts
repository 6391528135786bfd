import type { Readable } from 'node:stream';

/**
 * A readable call's messages as a pull queue: the call is paused while more
 * than highWaterMark messages wait, so a slow loop pushes back on the server
 * through HTTP/2 flow control instead of growing memory. Unlike iterating the
 * Readable itself, leaving the loop does not destroy the call, so the SDK can
 * let the server end it (no RST_STREAM) after asking it to stop.
 */
export class MessageQueue<Message> {
  private readonly items: Message[] = [];
  private failure: unknown;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly source: Readable,
    private readonly highWaterMark = 64,
  ) {
    source.on('data', (message: Message) => {
      this.items.push(message);
      if (this.items.length >= this.highWaterMark) source.pause();
      this.notify();
    });
    source.on('error', (error: unknown) => {
      this.failure = error;
      this.notify();
    });
    source.on('end', () => {
      this.ended = true;
      this.notify();
    });
  }

  /** The next message; undefined at the end; throws the call's error. */
  async next(): Promise<Message | undefined> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        if (this.items.length < this.highWaterMark / 2 && this.source.isPaused()) this.source.resume();
        return item;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Makes the waiting (and every later) next() throw the reason, without touching the call. */
  abort(reason: unknown): void {
    this.failure = reason;
    this.notify();
  }

  /** Stops queueing: whatever still arrives is read and dropped, so the call can end normally. */
  discard(): void {
    this.items.length = 0;
    this.source.removeAllListeners('data');
    this.source.on('data', () => undefined);
    this.source.resume();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
