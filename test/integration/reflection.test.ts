// Server reflection: a client with no proto files at hand discovers and calls
// every part of the surface. The client is `buf curl` (node_modules/.bin/buf),
// which speaks the same reflection protocol as grpcurl. Each command below,
// with HOST:PORT for the server, and its grpcurl equivalent:
//
//   grpcurl -plaintext HOST:PORT list
//   buf curl --protocol grpc --http2-prior-knowledge --list-services http://HOST:PORT
//
//   grpcurl -plaintext HOST:PORT describe tokenrelay.v1.DataService
//   buf curl --protocol grpc --http2-prior-knowledge --list-methods http://HOST:PORT
//     (buf curl lists the methods of every service, as Service/Method lines; it
//     takes only the base URL, so keep the tokenrelay.v1.DataService/ lines)
//
//   grpcurl -plaintext HOST:PORT tokenrelay.v1.DataService/ListModels
//   buf curl --protocol grpc --http2-prior-knowledge http://HOST:PORT/tokenrelay.v1.DataService/ListModels
//
//   grpcurl -plaintext -d '{"model":"echo","prompt":"Hello, café 🎉!"}' HOST:PORT tokenrelay.v1.DataService/Generate
//   buf curl --protocol grpc --http2-prior-knowledge -d '{"model":"echo","prompt":"Hello, café 🎉!"}' \
//     http://HOST:PORT/tokenrelay.v1.DataService/Generate
//
//   grpcurl -plaintext -d @ HOST:PORT tokenrelay.v1.DataService/StreamData <<EOM
//   buf curl --protocol grpc --http2-prior-knowledge -d @- http://HOST:PORT/tokenrelay.v1.DataService/StreamData <<EOM
//   {"requestId":"first","start":{"model":"echo","prompt":"The first generation"}}
//   {"requestId":"second","start":{"model":"echo","prompt":"and a second one"}}
//   {"requestId":"ping-1","ping":{"nonce":"42"}}
//   EOM
//
//   grpcurl -plaintext -d '{"service":""}' HOST:PORT grpc.health.v1.Health/Check
//   buf curl --protocol grpc --http2-prior-knowledge -d '{"service":""}' http://HOST:PORT/grpc.health.v1.Health/Check
//   (and the same with {"service":"tokenrelay.v1.DataService"})
//
// Both print responses as protobuf JSON: camelCase names, enums by name,
// 64-bit integers as strings, fields at their default value left out.

import path from 'node:path';
import { tokenize } from '../../src/core/models/tokenizer';
import { describeRun, run } from '../helpers/run';
import { startTestServer, type TestServer } from '../helpers/server';

const BUF = path.resolve(__dirname, '..', '..', 'node_modules', '.bin', 'buf');
/** buf's own bound on each command; the process is killed a little later if it overstays. */
const BUF_TIMEOUT = '10s';
const KILL_AFTER_MS = 15_000;

/** A TokenChunk as protobuf JSON: fields at their default (seq 0, no tokens, UNSPECIFIED) are absent. */
interface JsonChunk {
  streamId?: string;
  seq?: string;
  tokens?: string[];
  finishReason?: string;
  usage?: { promptTokens?: number; completionTokens?: number };
}

let t: TestServer;
beforeAll(async () => (t = await startTestServer()));
afterAll(() => t.close());

/** Runs `buf curl --protocol grpc --http2-prior-knowledge ...ARGS`, failing with buf's output if it does not exit 0. */
async function bufCurl(args: string[], input?: string): Promise<string> {
  const fullArgs = ['curl', '--timeout', BUF_TIMEOUT, '--protocol', 'grpc', '--http2-prior-knowledge', ...args];
  const result = await run(BUF, fullArgs, { input, timeoutMs: KILL_AFTER_MS });
  if (result.code !== 0) throw new Error(describeRun(BUF, fullArgs, result));
  return result.stdout;
}

/** The JSON documents buf curl prints one after another (pretty-printed, not one per line). */
function parseJsonStream(text: string): unknown[] {
  const documents: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') i++;
      else if (char === '"') inString = false;
    } else if (char === '"') {
      inString = true;
    } else if (char === '{' || char === '[') {
      if (depth++ === 0) start = i;
    } else if (char === '}' || char === ']') {
      if (--depth === 0) documents.push(JSON.parse(text.slice(start, i + 1)));
    }
  }
  expect(depth).toBe(0);
  return documents;
}

function lines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

/** A finished echo stream as JSON: the prompt's exact tokens, contiguous seqs, STOP and usage on the last chunk only. */
function expectFinishedEcho(chunks: JsonChunk[], prompt: string): void {
  const expected = tokenize(prompt);
  expect(chunks.flatMap((chunk) => chunk.tokens ?? [])).toEqual(expected);
  let next = 0;
  for (const chunk of chunks) {
    expect(Number(chunk.seq ?? '0')).toBe(next);
    next += chunk.tokens?.length ?? 0;
  }
  expect(next).toBe(expected.length);
  expect(new Set(chunks.map((chunk) => chunk.streamId)).size).toBe(1);
  const last = chunks[chunks.length - 1];
  expect(last.finishReason).toBe('FINISH_REASON_STOP');
  expect(last.usage).toEqual({ promptTokens: expected.length, completionTokens: expected.length });
  for (const chunk of chunks.slice(0, -1)) {
    expect(chunk.finishReason).toBeUndefined();
    expect(chunk.usage).toBeUndefined();
  }
}

describe('server reflection, used by buf curl with no proto files', () => {
  it('lists the services: DataService and Health', async () => {
    const services = lines(await bufCurl(['--list-services', `http://${t.address}`]));
    expect(services).toEqual(expect.arrayContaining(['tokenrelay.v1.DataService', 'grpc.health.v1.Health']));
  });

  it('describes DataService: its six RPCs', async () => {
    const methods = lines(await bufCurl(['--list-methods', `http://${t.address}`]));
    const dataService = methods.filter((method) => method.startsWith('tokenrelay.v1.DataService/'));
    expect(dataService.sort()).toEqual(
      ['Cancel', 'Generate', 'ListModels', 'Publish', 'StreamData', 'Subscribe'].map((name) => `tokenrelay.v1.DataService/${name}`),
    );
    expect(methods).toEqual(expect.arrayContaining(['grpc.health.v1.Health/Check', 'grpc.health.v1.Health/Watch']));
  });

  it('calls ListModels', async () => {
    const [response] = parseJsonStream(await bufCurl([`http://${t.address}/tokenrelay.v1.DataService/ListModels`]));
    expect(response).toEqual({
      models: [
        expect.objectContaining({ name: 'echo', backend: 'echo' }),
        expect.objectContaining({ name: 'sim', backend: 'sim' }),
        expect.objectContaining({ name: 'slow', backend: 'sim' }),
      ],
      defaultModel: 'sim',
    });
  });

  it('calls Generate: the echo tokens exactly, ending with FINISH_REASON_STOP', async () => {
    const prompt = 'Hello, café 🎉! Reflection needs no protos.';
    const data = JSON.stringify({ model: 'echo', prompt });
    const output = await bufCurl(['-d', data, `http://${t.address}/tokenrelay.v1.DataService/Generate`]);
    const chunks = parseJsonStream(output) as JsonChunk[];
    expectFinishedEcho(chunks, prompt);
  });

  it('runs a StreamData session from stdin: chunks tagged with each request id, and a pong', async () => {
    const starts = [
      { requestId: 'first', prompt: 'The first generation, ünïcödé included.' },
      { requestId: 'second', prompt: 'and a second one 🚀' },
    ];
    const input = [
      ...starts.map(({ requestId, prompt }) => JSON.stringify({ requestId, start: { model: 'echo', prompt } })),
      JSON.stringify({ requestId: 'ping-1', ping: { nonce: '42' } }),
    ].join('\n');
    const output = await bufCurl(['-d', '@-', `http://${t.address}/tokenrelay.v1.DataService/StreamData`], input);
    const responses = parseJsonStream(output) as { requestId: string; chunk?: JsonChunk; error?: unknown; pong?: unknown }[];

    expect(responses.filter((response) => response.error)).toEqual([]);
    expect(new Set(responses.map((response) => response.requestId))).toEqual(new Set(['first', 'second', 'ping-1']));
    for (const { requestId, prompt } of starts) {
      const chunks = responses.filter((response) => response.requestId === requestId).map((response) => response.chunk);
      expect(chunks.every((chunk) => chunk !== undefined)).toBe(true);
      expectFinishedEcho(chunks as JsonChunk[], prompt);
    }
    const firstStream = responses.find((response) => response.requestId === 'first')?.chunk?.streamId;
    const secondStream = responses.find((response) => response.requestId === 'second')?.chunk?.streamId;
    expect(firstStream).not.toEqual(secondStream);
    expect(responses.filter((response) => response.pong)).toEqual([
      { requestId: 'ping-1', pong: { nonce: '42', serverTimeMs: expect.stringMatching(/^\d+$/) } },
    ]);
  });

  it.each(['', 'tokenrelay.v1.DataService'])('Health/Check for %j is SERVING', async (service) => {
    const output = await bufCurl(['-d', JSON.stringify({ service }), `http://${t.address}/grpc.health.v1.Health/Check`]);
    expect(parseJsonStream(output)).toEqual([{ status: 'SERVING' }]);
  });
});
