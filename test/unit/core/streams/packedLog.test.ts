import { PAGE_TOKENS, PackedLog, utf8Length } from '../../../../src/core/streams/packedLog';
import { random } from '../../../helpers/random';

/** Characters of every UTF-8 length: 1 byte, 2, 3, 4 (a surrogate pair), and the edges of each. */
const CHARACTERS = [
  'a',
  ' ',
  '\u0000',
  '\u007f',
  'é',
  '\u0080',
  '\u07ff',
  '€',
  '\u0800',
  '日',
  '\ufeff',
  '\uffff',
  '🎉',
  '\u{10000}',
  '\u{10ffff}',
];

/** Random text tokens, mostly short ASCII like a model's, some empty, some long, some with every character length. */
function randomTokens(next: () => number, count: number, asciiOnly = false): string[] {
  return Array.from({ length: count }, () => {
    const shape = next();
    if (shape < 0.02) return '';
    const length = shape < 0.05 ? 100 + Math.floor(next() * 400) : 1 + Math.floor(next() * 8);
    let token = '';
    for (let index = 0; index < length; index++) {
      token +=
        asciiOnly || next() < 0.7 ? String.fromCharCode(32 + Math.floor(next() * 95)) : CHARACTERS[Math.floor(next() * CHARACTERS.length)];
    }
    return token;
  });
}

/**
 * What the packed log must agree with: the old log, one string per token.
 * Differences are collected and asserted once (an expect per token would take minutes).
 */
function expectSameAsArray(log: PackedLog, reference: string[], next: () => number): void {
  expect(log.length).toBe(reference.length);
  expect(log.textBytes).toBe(Buffer.byteLength(reference.join('')));
  const wrong: string[] = [];
  for (let seq = 0; seq < reference.length && wrong.length < 5; seq++) {
    if (log.at(seq) !== reference[seq]) wrong.push(`at(${seq}) is ${JSON.stringify(log.at(seq))}, not ${JSON.stringify(reference[seq])}`);
    const maxTokens = 1 + Math.floor(next() * 600);
    const run = log.run(seq, maxTokens, Infinity);
    if (run === undefined) {
      wrong.push(`no run at ${seq}`);
      continue;
    }
    // A run stops at the page's end, at maxTokens, or at the log's end: whichever comes first.
    const pageEnd = (Math.floor(seq / PAGE_TOKENS) + 1) * PAGE_TOKENS;
    const count = Math.min(maxTokens, pageEnd - seq, reference.length - seq);
    if (run.count !== count) wrong.push(`the run at ${seq} has ${run.count} tokens, not ${count}`);
    const strings = run.strings();
    for (let index = 0; index < run.count; index++) {
      const expected = reference[seq + index];
      // The strings, and the bytes: each token's UTF-8, back to back.
      if (strings[index] !== expected) wrong.push(`token ${seq + index} of the run at ${seq} is ${JSON.stringify(strings[index])}`);
      if (Buffer.from(run.bytes.subarray(run.startOf(index), run.endOf(index))).toString('utf8') !== expected)
        wrong.push(`the bytes of token ${seq + index} differ`);
    }
  }
  expect(wrong).toEqual([]);
  expect(log.run(reference.length, 10, Infinity)).toBeUndefined();
  expect(log.at(reference.length)).toBeUndefined();
}

describe('the packed log', () => {
  it('reads back every token from every seq, as the array log did, across page boundaries', () => {
    const next = random(11);
    const reference: string[] = [];
    const log = new PackedLog();
    // Runs of every size, so appends land on, before and across page boundaries.
    while (reference.length < 3 * PAGE_TOKENS + 17) {
      const size = [1, 1, 2, 7, 300, PAGE_TOKENS - 1, PAGE_TOKENS + 3][Math.floor(next() * 7)];
      const tokens = randomTokens(next, size);
      if (size === 1 && next() < 0.5) log.push(tokens[0]);
      else log.append(tokens);
      reference.push(...tokens);
    }
    expectSameAsArray(log, reference, next);
    // About 6 s here, against a default of 30 s: room for a slower machine.
  }, 120_000);

  it('keeps pure ASCII pages and mixed pages apart, and decodes both', () => {
    const next = random(5);
    const reference = [...randomTokens(next, PAGE_TOKENS, true), ...randomTokens(next, PAGE_TOKENS + 5)];
    const log = new PackedLog();
    for (let at = 0; at < reference.length; at += 97) log.append(reference.slice(at, at + 97));
    expectSameAsArray(log, reference, next);
  });

  it('never splits a character or a token: a surrogate pair cut between two tokens is two U+FFFD, as protobuf writes each token', () => {
    const log = new PackedLog();
    const pair = '🎉';
    log.append(['a', pair[0], pair[1], 'b', '\udc00x', `y${pair[0]}`]);
    expect(run(log, 0)).toEqual(['a', '\ufffd', '\ufffd', 'b', '\ufffdx', 'y\ufffd']);
    expect(log.textBytes).toBe(1 + 3 + 3 + 1 + 4 + 4);
    // What the wire would carry for the same tokens one by one.
    expect(log.textBytes).toBe(
      ['a', pair[0], pair[1], 'b', '\udc00x', `y${pair[0]}`].reduce((sum, token) => sum + Buffer.byteLength(token), 0),
    );
  });

  it('keeps a byte order mark at the start of a token: it is text like any other, not a marker to drop', () => {
    const log = new PackedLog();
    log.append(['\ufeffx', '\ufeff', 'y']);
    expect(run(log, 0)).toEqual(['\ufeffx', '\ufeff', 'y']);
    expect(run(log, 1)).toEqual(['\ufeff', 'y']);
    expect(log.at(1)).toBe('\ufeff');
  });

  it('stops a run before maxBytes of text, but always gives one token', () => {
    const log = new PackedLog();
    log.append(['aaaa', 'bbbb', '€€', 'cccc', 'x'.repeat(100)]);
    expect(runOf(log, 0, 100, 8)).toEqual(['aaaa', 'bbbb']);
    expect(runOf(log, 0, 100, 7)).toEqual(['aaaa']);
    expect(runOf(log, 2, 100, 6)).toEqual(['€€']); // six bytes, two UTF-16 units
    expect(runOf(log, 2, 100, 10)).toEqual(['€€', 'cccc']);
    expect(runOf(log, 4, 100, 1)).toEqual(['x'.repeat(100)]);
    expect(runOf(log, 0, 2, Infinity)).toEqual(['aaaa', 'bbbb']);
    expect(log.run(0, 0, Infinity)).toBeUndefined();
  });

  it('costs at most 8 bytes per token beyond its text for a long log, empty tokens included', () => {
    const next = random(3);
    const log = new PackedLog();
    let text = 0;
    for (let index = 0; index < 200; index++) {
      const tokens = randomTokens(next, 512);
      text += tokens.reduce((sum, token) => sum + utf8Length(token), 0);
      log.append(tokens);
    }
    expect(log.textBytes).toBe(text);
    expect((log.allocatedBytes - text) / log.length).toBeLessThanOrEqual(8);
  });

  it('counts UTF-8 bytes as Buffer does, for every character length and lone surrogates', () => {
    for (const text of [...CHARACTERS, '', 'a🎉b', '\ud800', 'z\udc00', '\udbff\udfff', '\ud800\ud800', 'x'.repeat(70)]) {
      expect(utf8Length(text)).toBe(Buffer.byteLength(text));
    }
  });
});

function run(log: PackedLog, seq: number): string[] {
  return runOf(log, seq, Infinity, Infinity);
}

function runOf(log: PackedLog, seq: number, maxTokens: number, maxBytes: number): string[] {
  return log.run(seq, maxTokens, maxBytes)?.strings() ?? [];
}
