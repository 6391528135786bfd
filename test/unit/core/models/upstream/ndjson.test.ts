import { NdjsonParser } from '../../../../../src/core/models/upstream/ndjson';
import { UpstreamError } from '../../../../../src/core/models/upstream/errors';
import { StatusCode } from '../../../../../src/core/streams/status';
import { ollamaLines } from '../../../../helpers/fakeUpstream';

const encode = (text: string) => new TextEncoder().encode(text);

function parse(bytes: Uint8Array, cuts: number[] = []): unknown[] {
  const parser = new NdjsonParser();
  const values: unknown[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    values.push(...parser.push(bytes.subarray(from, cut)));
    from = cut;
  }
  values.push(...parser.end());
  return values;
}

describe('NDJSON parser', () => {
  const text = ollamaLines(['The', ' sky', ' is', ' blue', ' 🌤'], { doneReason: 'length' }).join('');

  it('reads an Ollama /api/chat stream into one object per line, the last with done and its counts', () => {
    const values = parse(encode(text)) as Array<Record<string, unknown>>;
    expect(values).toHaveLength(6);
    expect(values.slice(0, 5).map((value) => (value.message as { content: string }).content)).toEqual([
      'The',
      ' sky',
      ' is',
      ' blue',
      ' 🌤',
    ]);
    expect(values[5]).toMatchObject({ done: true, done_reason: 'length', prompt_eval_count: 26, eval_count: 5 });
  });

  it('gives the same objects whatever two reads the bytes are split into, a UTF-8 character included', () => {
    const bytes = encode(text);
    const whole = parse(bytes);
    for (let cut = 1; cut < bytes.length; cut++) expect(parse(bytes, [cut])).toEqual(whole);
  });

  it('gives the same objects fed one byte at a time', () => {
    const bytes = encode(text);
    expect(
      parse(
        bytes,
        Array.from({ length: bytes.length - 1 }, (_, index) => index + 1),
      ),
    ).toEqual(parse(bytes));
  });

  it('accepts CRLF line ends and blank lines, and a last line without its newline', () => {
    expect(parse(encode('{"a":1}\r\n\r\n\n{"b":2}\r\n{"c":3}'))).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
  });

  it('fails a line that is not JSON with UNAVAILABLE, quoting the line, not retryable', () => {
    let thrown: unknown;
    try {
      parse(encode('{"a":1}\n<html><body>Bad Gateway</body></html>\n'));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UpstreamError);
    expect(thrown).toMatchObject({ code: StatusCode.UNAVAILABLE, retryable: false });
    expect((thrown as Error).message).toBe('upstream sent a line that is not JSON: "<html><body>Bad Gateway</body></html>"');
  });

  it('hands out the objects of the lines before a garbage line in the same read, then fails', () => {
    const parser = new NdjsonParser();
    expect(parser.push(encode('{"a":1}\n{"b"'))).toEqual([{ a: 1 }]);
    expect(parser.push(encode(':2}\n{"c":3}\nnot json\n{"d":4}\n'))).toEqual([{ b: 2 }, { c: 3 }]);
    expect(() => parser.push(encode('{"e":5}\n'))).toThrow('upstream sent a line that is not JSON: "not json"');
    expect(() => parser.end()).toThrow('upstream sent a line that is not JSON: "not json"');
  });
});
