/**
 * A stream's tokens as UTF-8 bytes in pages, instead of one JS string per
 * token. A string costs its text plus a 16-byte header plus an 8-byte slot in
 * an array, padded to 8 bytes: about 32 bytes per token beyond the text for
 * short tokens. Here a token costs its bytes plus a 4-byte end offset.
 *
 * A page holds up to PAGE_TOKENS tokens. Its byte buffer and its offsets grow
 * by doubling while it is the last page; when it fills, its bytes are copied
 * once into a buffer of the exact size if more than an eighth is unused, and
 * it never changes again. So an append copies at most the last page, never
 * an earlier one, and a read by seq is a division and an index. A run a
 * reader holds keeps the arrays it was cut from: a page that grows later
 * writes into new arrays, and the run's bytes never change.
 *
 * A page never splits a token, and a token never splits a character: each
 * token is encoded on its own, as its own protobuf string would be (a lone
 * surrogate becomes U+FFFD, as Buffer and protobufjs write it). Pages are
 * plain typed arrays, so a new log's first page lives on V8's heap.
 */

/** Tokens per page: 4,096 tokens of a few bytes each is a page of some 16-32 KiB. */
export const PAGE_TOKENS = 4096;
/**
 * A new log's first page: 16 offsets and 64 bytes, small enough that V8 keeps
 * both typed arrays on its heap (no backing store to allocate), which is what
 * a short call's stream costs.
 */
const FIRST_TOKENS = 16;
const FIRST_BYTES = 64;
/** ignoreBOM: a token that starts with U+FEFF keeps it (by default the decoder would drop it). */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

class Page {
  /** UTF-8 bytes of the page's tokens, back to back; `used` of them are filled. */
  bytes: Uint8Array;
  /** ends[i]: the byte offset in `bytes` where token i ends (token i starts at ends[i - 1], or 0). */
  ends: Uint32Array;
  count = 0;
  used = 0;
  /** Every byte is below 0x80, so byte offsets are also UTF-16 offsets (a read decodes the run at once). */
  ascii = true;

  constructor(tokens: number, bytes: number) {
    this.ends = new Uint32Array(tokens);
    this.bytes = new Uint8Array(bytes);
  }

  start(index: number): number {
    return index === 0 ? 0 : this.ends[index - 1];
  }

  /** Room for `tokens` more tokens and `bytes` more bytes, growing by doubling up to PAGE_TOKENS tokens. */
  reserve(tokens: number, bytes: number): void {
    if (this.count + tokens > this.ends.length) {
      let size = this.ends.length;
      while (size < this.count + tokens) size *= 2;
      const ends = new Uint32Array(Math.min(size, PAGE_TOKENS));
      ends.set(this.ends.subarray(0, this.count));
      this.ends = ends;
    }
    if (this.used + bytes > this.bytes.length) {
      let size = this.bytes.length;
      while (size < this.used + bytes) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.bytes.subarray(0, this.used));
      this.bytes = grown;
    }
  }

  /** The page is full: keep what it uses (trimmed when more than an eighth is unused). */
  seal(): void {
    if (this.bytes.length - this.used > this.used >>> 3) {
      this.bytes = this.bytes.slice(0, this.used);
    }
    if (this.ends.length !== this.count) this.ends = this.ends.slice(0, this.count);
  }
}

/**
 * A run of consecutive tokens in one page, as a reader takes them: the
 * gRPC edge encodes a TokenChunk straight from these bytes, and anything
 * that wants strings calls strings() (decoded once, then kept).
 */
export class PackedRun {
  private decoded: string[] | undefined;

  constructor(
    /** The page's bytes; token i of the run is bytes[startOf(i), endOf(i)). */
    readonly bytes: Uint8Array,
    private readonly ends: Uint32Array,
    /** Index in the page of the run's first token. */
    private readonly first: number,
    readonly count: number,
    private readonly ascii: boolean,
  ) {}

  startOf(index: number): number {
    const at = this.first + index;
    return at === 0 ? 0 : this.ends[at - 1];
  }

  endOf(index: number): number {
    return this.ends[this.first + index];
  }

  /** The run's tokens as strings. */
  strings(): string[] {
    if (this.decoded) return this.decoded;
    const tokens = new Array<string>(this.count);
    if (this.ascii) {
      // One native call for the run, then substrings: byte offsets are string offsets.
      const base = this.startOf(0);
      const text = utf8.decode(this.bytes.subarray(base, this.endOf(this.count - 1)));
      for (let index = 0; index < this.count; index++) tokens[index] = text.slice(this.startOf(index) - base, this.endOf(index) - base);
    } else {
      for (let index = 0; index < this.count; index++)
        tokens[index] = utf8.decode(this.bytes.subarray(this.startOf(index), this.endOf(index)));
    }
    this.decoded = tokens;
    return tokens;
  }
}

/** An append-only log of tokens numbered from 0, packed in pages (see the file comment). */
export class PackedLog {
  private readonly pages: Page[] = [];
  private tokens = 0;
  private bytes = 0;

  /** Number of tokens: the seq the next token gets. */
  get length(): number {
    return this.tokens;
  }

  /** UTF-8 bytes of all the tokens' text. */
  get textBytes(): number {
    return this.bytes;
  }

  /** Bytes this log holds in buffers (text, offsets and unused capacity), for measuring its overhead. */
  get allocatedBytes(): number {
    let total = 0;
    for (const page of this.pages) total += page.bytes.length + page.ends.byteLength;
    return total;
  }

  push(token: string): void {
    this.append([token]);
  }

  /** Appends tokens in order; the run may cross pages. */
  append(tokens: readonly string[]): void {
    let from = 0;
    while (from < tokens.length) {
      let page = this.pages[this.pages.length - 1];
      if (page === undefined || page.count === PAGE_TOKENS) {
        // The first page starts small (most streams are short); a later one
        // starts at the size of the page it follows, so a long log allocates
        // about once per page instead of once per doubling.
        page?.seal();
        page = page === undefined ? new Page(FIRST_TOKENS, FIRST_BYTES) : new Page(PAGE_TOKENS, page.used + (page.used >>> 3) + 64);
        this.pages.push(page);
      }
      const take = Math.min(tokens.length - from, PAGE_TOKENS - page.count);
      this.appendToPage(page, tokens, from, take);
      from += take;
    }
  }

  /** The token at seq as a string (for tests and the odd lookup; readers take runs). */
  at(seq: number): string | undefined {
    if (!(seq >= 0 && seq < this.tokens)) return undefined;
    const page = this.pages[Math.floor(seq / PAGE_TOKENS)];
    const index = seq % PAGE_TOKENS;
    return utf8.decode(page.bytes.subarray(page.start(index), page.ends[index]));
  }

  /**
   * Up to maxTokens tokens from seq, within one page, stopping before maxBytes
   * of text (one token always goes); undefined when seq is at or past the end.
   */
  run(seq: number, maxTokens: number, maxBytes: number): PackedRun | undefined {
    if (!(seq >= 0 && seq < this.tokens) || !(maxTokens >= 1)) return undefined;
    const page = this.pages[Math.floor(seq / PAGE_TOKENS)];
    const first = seq % PAGE_TOKENS;
    let last = Math.min(page.count, first + Math.min(maxTokens, PAGE_TOKENS)) - 1;
    if (maxBytes !== Infinity) {
      const limit = page.start(first) + Math.max(0, maxBytes);
      if (page.ends[last] > limit) {
        // The last token that ends within the limit, by binary search on the offsets.
        let low = first;
        let high = last;
        while (low < high) {
          const middle = (low + high + 1) >>> 1;
          if (page.ends[middle] <= limit) low = middle;
          else high = middle - 1;
        }
        last = low;
      }
    }
    return new PackedRun(page.bytes, page.ends, first, last - first + 1, page.ascii);
  }

  /** Writes each token's UTF-8 straight into the page, in one pass: no joined string, no native call per token. */
  private appendToPage(page: Page, tokens: readonly string[], from: number, count: number): void {
    page.reserve(count, 0);
    const first = page.used;
    let at = first;
    let ascii = page.ascii;
    for (let index = 0; index < count; index++) {
      const token = tokens[from + index];
      // At most 3 bytes per UTF-16 unit; a long log rarely grows here, as each page starts at the size of the last.
      if (at + 3 * token.length > page.bytes.length) {
        page.used = at;
        page.reserve(0, 3 * token.length);
      }
      // ASCII, most tokens, byte by byte here; the first other character hands the rest of the token to writeUtf8.
      const bytes = page.bytes;
      let char = 0;
      while (char < token.length) {
        const code = token.charCodeAt(char);
        if (code >= 0x80) break;
        bytes[at++] = code;
        char++;
      }
      if (char < token.length) {
        ascii = false;
        at = writeUtf8(bytes, at, char === 0 ? token : token.slice(char));
      }
      page.ends[page.count + index] = at;
    }
    page.count += count;
    page.used = at;
    page.ascii = ascii;
    this.tokens += count;
    this.bytes += at - first;
  }
}

/** UTF-8 length of a string; a lone surrogate counts as U+FFFD (3 bytes), as Buffer and TextEncoder write it. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      index++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Writes text as UTF-8 at `start` (the caller made room: at most 3 bytes per
 * UTF-16 unit) and returns where it ended. A lone surrogate is written as
 * U+FFFD, as Buffer, TextEncoder and protobufjs write it.
 */
export function writeUtf8(out: Uint8Array, start: number, text: string): number {
  let at = start;
  for (let index = 0; index < text.length; index++) {
    let code = text.charCodeAt(index);
    if (code < 0x80) {
      out[at++] = code;
    } else if (code < 0x800) {
      out[at++] = 0xc0 | (code >> 6);
      out[at++] = 0x80 | (code & 0x3f);
    } else if (code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00) {
      code = 0x10000 + ((code - 0xd800) << 10) + (text.charCodeAt(++index) - 0xdc00);
      out[at++] = 0xf0 | (code >> 18);
      out[at++] = 0x80 | ((code >> 12) & 0x3f);
      out[at++] = 0x80 | ((code >> 6) & 0x3f);
      out[at++] = 0x80 | (code & 0x3f);
    } else {
      if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd; // a lone surrogate
      out[at++] = 0xe0 | (code >> 12);
      out[at++] = 0x80 | ((code >> 6) & 0x3f);
      out[at++] = 0x80 | (code & 0x3f);
    }
  }
  return at;
}
