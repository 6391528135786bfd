import { formatError } from './errors';

/** One Server-Sent Event, assembled by the WHATWG event-stream rules. */
export interface SseEvent {
  /** The `event:` field; "message" when the event names none. */
  event: string;
  /** The event's `data:` lines joined with "\n". */
  data: string;
}

/** Longest line accepted, in UTF-16 code units: an upstream that never sends a newline cannot grow memory without bound. */
export const MAX_LINE_CHARS = 1 << 20;

const LINE_END = /\r\n|\r|\n/g;

/**
 * A streaming text/event-stream parser: feed it the body's bytes as they
 * arrive, in whatever pieces TCP made of them, and it returns the events
 * completed so far. Lines end in LF, CRLF or CR (a CRLF split across two
 * reads counts once); comment lines (": keep-alive") are skipped; several
 * `data:` lines make one event; an event is dispatched at the blank line that
 * ends it, and an unfinished one at the end of the body is dropped, as the
 * spec says. UTF-8 characters split across reads are decoded whole.
 */
export class SseParser {
  private readonly decoder = new TextDecoder();
  private pending = '';
  /** The last read ended with CR: an LF opening the next read ends the same line. */
  private afterCr = false;
  private data: string[] = [];
  private eventType = '';

  /** Parses the next piece of the body; returns the events it completed. */
  push(bytes: Uint8Array): SseEvent[] {
    return this.feed(this.decoder.decode(bytes, { stream: true }));
  }

  /** The body ended: returns any events its last bytes completed. */
  end(): SseEvent[] {
    const events = this.feed(this.decoder.decode());
    this.pending = '';
    this.data = [];
    return events;
  }

  private feed(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    if (this.afterCr && text.length > 0) {
      if (text[0] === '\n') text = text.slice(1);
      this.afterCr = false;
    }
    const buffer = this.pending + text;
    let lineStart = 0;
    LINE_END.lastIndex = 0;
    for (let match = LINE_END.exec(buffer); match; match = LINE_END.exec(buffer)) {
      this.line(buffer.slice(lineStart, match.index), events);
      lineStart = match.index + match[0].length;
      if (match[0] === '\r' && lineStart === buffer.length) this.afterCr = true;
    }
    this.pending = buffer.slice(lineStart);
    if (this.pending.length > MAX_LINE_CHARS) {
      throw formatError(`upstream sent an event-stream line longer than ${MAX_LINE_CHARS} characters`);
    }
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) events.push({ event: this.eventType || 'message', data: this.data.join('\n') });
      this.data = [];
      this.eventType = '';
      return;
    }
    if (line.startsWith(':')) return; // a comment: keep-alives and pings
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.eventType = value;
    // `id` and `retry` matter to browsers reconnecting an EventSource, not to one POST; unknown fields are ignored.
  }
}
