import type { ModelTrace } from '../types';
import { STATUS_CODES } from 'node:http';
import { Agent, request, type Dispatcher } from 'undici';
import { StatusCode } from '../../streams/status';
import { UpstreamError, connectionError, formatError, httpStatusError, messageOf, quote } from './errors';
import { ConcurrencyLimiter } from './limiter';
import { retryAfterMs } from './retry';

export interface UpstreamHttpOptions {
  /** Where requests go: scheme, host, port and path prefix, no trailing slash. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer`; redacted from every error message. */
  apiKey?: string;
  /** Extra request headers. */
  headers: Record<string, string>;
  /** TCP (and TLS) connect timeout, in ms. */
  connectMs: number;
  /** Most time from sending the request to its response headers, in ms. */
  headersMs: number;
  /** Longest silence on the response body, in ms; then the request is aborted with UNAVAILABLE. */
  idleMs: number;
  /** Most requests in flight to this upstream. */
  maxConcurrent: number;
  /** Most requests waiting for a slot; past that, RESOURCE_EXHAUSTED. */
  maxQueue: number;
}

/** The shortest start of the key redacted where a quote was cut short. */
const MIN_KEY_PREFIX = 4;

/** Most bytes of an error answer read for its message. */
const MAX_ERROR_BODY_BYTES = 16 * 1024;

/** How long a finished response may take to end its body before its connection is given up rather than reused, in ms. */
const DRAIN_MS = 1000;

/**
 * HTTP to one upstream: a keep-alive connection pool (undici), at most
 * maxConcurrent requests in flight with a bounded queue, and every wait
 * bounded: connect, headers, each read of the body (the idle timeout), and
 * the caller's signal, whose abort closes the request's connection so the
 * upstream sees it go. Failures come out as UpstreamErrors.
 */
export class UpstreamHttp {
  private readonly agent: Agent;
  private readonly limiter: ConcurrencyLimiter;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: UpstreamHttpOptions) {
    // No connection cap here: the limiter bounds requests, and a connection
    // still draining a finished answer must not hold up the next request.
    this.agent = new Agent({
      connect: { timeout: options.connectMs },
      headersTimeout: options.headersMs,
      bodyTimeout: 0, // the idle timeout below counts only time spent waiting on the upstream
    });
    this.limiter = new ConcurrencyLimiter(options.maxConcurrent, options.maxQueue);
    this.headers = Object.fromEntries(Object.entries(options.headers).map(([name, value]) => [name.toLowerCase(), value]));
    if (options.apiKey) this.headers.authorization = `Bearer ${options.apiKey}`;
  }

  /**
   * POSTs payload as JSON to baseUrl + path and hands the 2xx response body,
   * each read bounded by the idle timeout, to `read`. A non-2xx answer, a
   * page or JSON where a stream was expected, a broken connection or a
   * timeout is an UpstreamError; the signal's abort rejects with its reason.
   * When `read` returns, the rest of the answer is read so its connection is
   * reused, unless `read` called `abandon` (it stopped an upstream that was
   * still generating): then the connection is closed.
   */
  async post<T>(
    path: string,
    payload: unknown,
    accept: string,
    signal: AbortSignal,
    read: (body: AsyncIterable<Uint8Array>, abandon: () => void) => Promise<T>,
    trace?: ModelTrace,
  ): Promise<T> {
    const release = await this.limiter.acquire(signal);
    const attempt = trace?.attempt('POST', this.options.baseUrl + path);
    let failure: unknown;
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    let response: Dispatcher.ResponseData | undefined;
    let completed = false;
    try {
      if (signal.aborted) throw signal.reason;
      response = await request(this.options.baseUrl + path, {
        method: 'POST',
        dispatcher: this.agent,
        signal: controller.signal,
        headers: { ...this.headers, ...attempt?.headers, 'content-type': 'application/json', accept },
        body: JSON.stringify(payload),
      });
      const body = this.readsOf(response.body, controller, signal);
      if (response.statusCode < 200 || response.statusCode > 299) throw await this.statusError(response, body);
      const contentType = header(response.headers['content-type']);
      if (/text\/html/i.test(contentType)) {
        const text = await readText(body, MAX_ERROR_BODY_BYTES);
        throw formatError(`upstream answered ${response.statusCode} with an HTML page, not ${accept}: ${htmlSummary(text)}`);
      }
      if (accept === 'text/event-stream' && /application\/json/i.test(contentType)) {
        // A server that ignored stream: true, or one that reports errors with 200.
        const text = await readText(body, MAX_ERROR_BODY_BYTES);
        throw formatError(`upstream answered ${response.statusCode} with JSON, not ${accept}: ${errorDetail(text)}`);
      }
      let reusable = true;
      const result = await read(body, () => (reusable = false));
      completed = reusable;
      return result;
    } catch (error) {
      failure = signal.aborted ? signal.reason : error instanceof UpstreamError ? error : connectionError(error);
      throw failure;
    } finally {
      attempt?.end(response?.statusCode, failure);
      signal.removeEventListener('abort', onAbort);
      if (response && !response.body.readableEnded) {
        // A finished answer's last bytes are read so its connection goes back to the pool; anything else closes it.
        if (completed)
          void response.body.dump({ limit: 64 * 1024, signal: AbortSignal.timeout(DRAIN_MS) } as { limit: number }).catch(() => undefined);
        else response.body.destroy();
      }
      release();
    }
  }

  /**
   * The message with the API key cut out: upstreams like to quote the key
   * they refused. A quote cut short ("…") may end inside the key, so the
   * start of the key before an ellipsis goes too.
   */
  redact(message: string): string {
    const key = this.options.apiKey;
    if (!key) return message;
    return message
      .split(key)
      .join('[redacted]')
      .replace(/(\S+)…/g, (match, word: string) => {
        for (let start = 0; start <= word.length - MIN_KEY_PREFIX; start++) {
          if (key.startsWith(word.slice(start))) return `${word.slice(0, start)}[redacted]…`;
        }
        return match;
      });
  }

  /**
   * The body read by read, each read bounded by idleMs. Errors come out as
   * UpstreamErrors (the idle timeout's own, or the broken connection's), or
   * as the caller's abort reason.
   */
  private async *readsOf(
    body: Dispatcher.ResponseData['body'],
    controller: AbortController,
    signal: AbortSignal,
  ): AsyncGenerator<Uint8Array> {
    const { idleMs } = this.options;
    const reads = body.iterator({ destroyOnReturn: false });
    let idle: UpstreamError | undefined;
    for (;;) {
      const timer = setTimeout(() => {
        idle = new UpstreamError(StatusCode.UNAVAILABLE, `upstream sent nothing for ${idleMs} ms (timeouts.idleMs)`, true);
        controller.abort(idle);
      }, idleMs);
      let next: IteratorResult<Uint8Array>;
      try {
        next = await reads.next();
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        throw idle ?? (error instanceof UpstreamError ? error : connectionError(error));
      } finally {
        clearTimeout(timer);
      }
      if (next.done) return;
      yield next.value;
    }
  }

  private async statusError(response: Dispatcher.ResponseData, body: AsyncIterable<Uint8Array>): Promise<UpstreamError> {
    const status = response.statusCode;
    const retryAfter = retryAfterMs(
      header(response.headers['retry-after']) || undefined,
      header(response.headers['retry-after-ms']) || undefined,
    );
    let detail = '';
    try {
      const text = await readText(body, MAX_ERROR_BODY_BYTES);
      detail = /text\/html/i.test(header(response.headers['content-type'])) ? htmlSummary(text) : errorDetail(text);
    } catch (error) {
      // The status says enough; a body that broke off adds nothing.
      if (!(error instanceof UpstreamError)) throw error;
    }
    return httpStatusError(status, STATUS_CODES[status] ?? '', detail, retryAfter);
  }
}

/** A header's value as one string. */
function header(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

/** Reads up to maxBytes of the body as text. */
async function readText(body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  for await (const chunk of body) {
    text += decoder.decode(chunk.subarray(0, maxBytes - bytes), { stream: true });
    bytes += chunk.length;
    if (bytes >= maxBytes) break;
  }
  return text + decoder.decode();
}

/** The upstream's own words from an error answer: its JSON error message, else the start of its text. */
function errorDetail(text: string): string {
  try {
    const message = messageOf(JSON.parse(text));
    if (message) return quote(message, 300);
  } catch {
    // not JSON: quote the text
  }
  const trimmed = text.replace(/\s+/g, ' ').trim();
  return trimmed ? quote(trimmed, 300) : '';
}

/** An HTML error page by its title (a proxy's "502 Bad Gateway"). */
function htmlSummary(text: string): string {
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1]?.trim();
  return title ? `an HTML page titled ${quote(title)}` : `an HTML page ${quote(text.replace(/\s+/g, ' ').trim())}`;
}
