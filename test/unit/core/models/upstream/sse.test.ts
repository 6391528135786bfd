import { MAX_LINE_CHARS, SseParser, type SseEvent } from '../../../../../src/core/models/upstream/sse';
import { UpstreamError } from '../../../../../src/core/models/upstream/errors';
import { StatusCode } from '../../../../../src/core/streams/status';
import { openAiEvents } from '../../../../helpers/fakeUpstream';

/** Feeds the bytes to a fresh parser in pieces cut at the offsets; returns every event. */
function parse(bytes: Uint8Array, cuts: number[] = []): SseEvent[] {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    events.push(...parser.push(bytes.subarray(from, cut)));
    from = cut;
  }
  events.push(...parser.end());
  return events;
}

const encode = (text: string) => new TextEncoder().encode(text);

describe('SSE parser', () => {
  const stream = openAiEvents(['Hello', ',', ' wörld', ' 👋'], { usage: { prompt: 12, completion: 4 }, keepAlive: true }).join('');

  it('reads a vLLM stream into one event per data line, skipping keep-alive comments', () => {
    const events = parse(encode(stream));
    expect(events).toHaveLength(8); // role, 4 tokens, finish, usage, [DONE]
    expect(events.every((event) => event.event === 'message')).toBe(true);
    expect(JSON.parse(events[1].data).choices[0].delta.content).toBe('Hello');
    expect(JSON.parse(events[6].data).usage).toEqual({ prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 });
    expect(events[7].data).toBe('[DONE]');
  });

  it('gives the same events whatever two reads the bytes are split into, UTF-8 characters and CRLFs included', () => {
    for (const newline of ['\n', '\r\n'] as const) {
      const bytes = encode(openAiEvents(['Hé', ' 👋', '!'], { newline, keepAlive: true, usage: { prompt: 1, completion: 3 } }).join(''));
      const whole = parse(bytes);
      for (let cut = 1; cut < bytes.length; cut++) expect(parse(bytes, [cut])).toEqual(whole);
    }
  });

  it('gives the same events fed one byte at a time', () => {
    const bytes = encode(stream);
    const cuts = Array.from({ length: bytes.length - 1 }, (_, index) => index + 1);
    expect(parse(bytes, cuts)).toEqual(parse(bytes));
  });

  it('ends lines at LF, CRLF or a lone CR, counting a CRLF split across reads once', () => {
    const text = 'data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n';
    const bytes = encode(`${text}\r\n`);
    const expected = ['a', 'b', 'c', 'd'].map((data) => ({ event: 'message', data }));
    expect(parse(bytes)).toEqual(expected);
    // Cut between every CR and its LF.
    const cuts = [...text.matchAll(/\r\n/g)].map((match) => (match.index ?? 0) + 1);
    expect(parse(bytes, cuts)).toEqual(expected);
  });

  it('joins the data lines of one event with newlines and takes its event type', () => {
    const events = parse(encode('event: error\ndata: {"error":\ndata:  {"message": "boom"}}\n\n'));
    expect(events).toEqual([{ event: 'error', data: '{"error":\n {"message": "boom"}}' }]);
  });

  it('skips comments, ignores unknown fields and id/retry, and strips one space after the colon', () => {
    const events = parse(encode(': keep-alive\n\n:ping\nid: 7\nretry: 1000\nfoo: bar\ndata:x\ndata:  y\n\n'));
    expect(events).toEqual([{ event: 'message', data: 'x\n y' }]);
  });

  it('dispatches nothing for an event with no data, and a "data" line with no colon is an empty data line', () => {
    expect(parse(encode('event: ping\n\n'))).toEqual([]);
    expect(parse(encode('data\n\n'))).toEqual([{ event: 'message', data: '' }]);
  });

  it('drops an event the body ended in the middle of, as the spec says', () => {
    expect(parse(encode('data: complete\n\ndata: cut off'))).toEqual([{ event: 'message', data: 'complete' }]);
    expect(parse(encode('data: no blank line\n'))).toEqual([]);
  });

  it('strips a byte-order mark at the start', () => {
    expect(parse(new Uint8Array([0xef, 0xbb, 0xbf, ...encode('data: x\n\n')]))).toEqual([{ event: 'message', data: 'x' }]);
  });

  it('refuses a line longer than the limit with UNAVAILABLE instead of buffering it forever', () => {
    const parser = new SseParser();
    const piece = encode('x'.repeat(64 * 1024));
    let thrown: unknown;
    try {
      for (let read = 0; read * piece.length <= MAX_LINE_CHARS + piece.length; read++) parser.push(piece);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UpstreamError);
    expect((thrown as UpstreamError).code).toBe(StatusCode.UNAVAILABLE);
    expect((thrown as UpstreamError).retryable).toBe(false);
  });
});
