import { formatError, quote } from './errors';
import { MAX_LINE_CHARS } from './sse';

/**
 * A streaming NDJSON parser (one JSON value a line, as Ollama streams): feed
 * it the body's bytes as they arrive and it returns the values of the lines
 * completed so far. Lines end in LF or CRLF; blank lines are skipped; a line
 * that is not JSON is an UNAVAILABLE format error quoting its start, thrown
 * once the values of the lines before it (in the same read) are handed out.
 */
export class NdjsonParser {
  private readonly decoder = new TextDecoder();
  private pending = '';
  private failure: Error | undefined;

  /** Parses the next piece of the body; returns the values of the lines it completed. */
  push(bytes: Uint8Array): unknown[] {
    return this.feed(this.decoder.decode(bytes, { stream: true }), false);
  }

  /** The body ended: a last line without its newline still counts. */
  end(): unknown[] {
    return this.feed(this.decoder.decode(), true);
  }

  private feed(text: string, last: boolean): unknown[] {
    if (this.failure) throw this.failure;
    const values: unknown[] = [];
    const buffer = this.pending + text;
    let lineStart = 0;
    for (let newline = buffer.indexOf('\n'); newline !== -1; newline = buffer.indexOf('\n', lineStart)) {
      if (!this.line(buffer.slice(lineStart, newline), values)) return this.failed(values);
      lineStart = newline + 1;
    }
    this.pending = buffer.slice(lineStart);
    if (last) {
      if (!this.line(this.pending, values)) return this.failed(values);
      this.pending = '';
    } else if (this.pending.length > MAX_LINE_CHARS) {
      throw formatError(`upstream sent an NDJSON line longer than ${MAX_LINE_CHARS} characters`);
    }
    return values;
  }

  /** Parses one line into values; false (with the failure kept) if it is not JSON. */
  private line(raw: string, values: unknown[]): boolean {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return true;
    try {
      values.push(JSON.parse(line));
      return true;
    } catch {
      this.failure = formatError(`upstream sent a line that is not JSON: ${quote(line)}`);
      return false;
    }
  }

  /** The values before the bad line now; its failure at the next call (or now, if there are none). */
  private failed(values: unknown[]): unknown[] {
    if (values.length === 0 && this.failure) throw this.failure;
    return values;
  }
}
