import { type ClientWritableStream, credentials, type Metadata, type ServiceError, status } from '@grpc/grpc-js';
import {
  DataServiceClient,
  FinishReason,
  type PublishRequest,
  type PublishResponse,
  TokenChunk,
} from '../../src/gen/tokenrelay/v1/data_service';
import { sleep } from '../helpers/models';
import { collect, expectContiguous, startTestServer, type TestServer, waitFor } from '../helpers/server';
import { TcpProxy } from '../helpers/tcpProxy';

const TOKENS = Array.from({ length: 10 }, (_, i) => ` t${i}`);

interface Publisher {
  call: ClientWritableStream<PublishRequest>;
  result: Promise<{ response?: PublishResponse; error?: ServiceError }>;
  /** The response headers, once they came. */
  headers: Promise<Metadata>;
}

function publisher(t: TestServer): Publisher {
  let call!: ClientWritableStream<PublishRequest>;
  const result = new Promise<{ response?: PublishResponse; error?: ServiceError }>((resolve) => {
    call = t.client.publish((error, response) => resolve(error ? { error } : { response }));
  });
  const headers = new Promise<Metadata>((resolve) => call.on('metadata', resolve));
  return { call, result, headers };
}

function open(streamId: string, resumable: boolean): PublishRequest {
  return { open: { streamId, model: 'worker', resumable } };
}

function chunk(seq: number, tokens: string[]): PublishRequest {
  return { chunk: TokenChunk.fromPartial({ seq, tokens }) };
}

async function nextSeqHeader(p: Publisher): Promise<number> {
  const headers = await p.headers;
  return Number(headers.get('tokenrelay-next-seq')[0]);
}

describe('resumable Publish', () => {
  let t: TestServer;
  beforeAll(async () => (t = await startTestServer({ streams: { resumeGraceMs: 5000 } })));
  afterAll(() => t.close());

  it('survives its call breaking: a new Publish resumes at tokenrelay-next-seq, and a subscriber sees every token once', async () => {
    const first = publisher(t);
    first.call.on('error', () => undefined);
    first.call.write(open('resume-1', true));
    expect(await nextSeqHeader(first)).toBe(0); // a new stream starts at 0
    first.call.write(chunk(0, TOKENS.slice(0, 4)));
    first.call.write(chunk(4, TOKENS.slice(4, 6)));
    await waitFor(() => t.server.registry.get('resume-1')?.nextSeq === 6, 2000, 'six tokens');
    const stream = t.server.registry.get('resume-1');
    const subscriber = collect(t.client.subscribe({ streamId: 'resume-1', fromSeq: 0 }));

    first.call.cancel(); // the producer's connection breaks without a half-close
    expect((await first.result).error?.code).toBe(status.CANCELLED);
    await sleep(150); // past the half-close settle window: the break has been seen
    expect(stream?.end).toBeUndefined(); // still live, waiting for its producer
    expect(t.server.registry.get('resume-1')).toBe(stream);

    const second = publisher(t);
    second.call.write(open('resume-1', true));
    const from = await nextSeqHeader(second);
    expect(from).toBe(6);
    second.call.write(chunk(from, TOKENS.slice(from, 8)));
    second.call.write(chunk(8, TOKENS.slice(8)));
    second.call.end();
    expect(await second.result).toEqual({ response: { streamId: 'resume-1', tokensAccepted: 4, nextSeq: 10 } });

    const { tokens, chunks, error } = await subscriber;
    expect(error).toBeUndefined();
    expect(tokens).toEqual(TOKENS);
    expectContiguous(chunks);
    expect(chunks[chunks.length - 1]).toMatchObject({
      finishReason: FinishReason.FINISH_REASON_STOP,
      usage: { completionTokens: 10 },
    });
    expect(stream?.end?.reason).toBe('stop');
  });

  it('survives its connection being cut (not a polite cancel) the same way', async () => {
    const proxy = await TcpProxy.start(t.server.grpcPort);
    const viaProxy = new DataServiceClient(proxy.address, credentials.createInsecure());
    try {
      const result = new Promise<ServiceError | null>((resolve) => {
        const call = viaProxy.publish((error) => resolve(error));
        call.write(open('resume-cut', true));
        call.write(chunk(0, TOKENS.slice(0, 5)));
      });
      await waitFor(() => t.server.registry.get('resume-cut')?.nextSeq === 5, 2000, 'five tokens');
      const stream = t.server.registry.get('resume-cut');
      const subscriber = collect(t.client.subscribe({ streamId: 'resume-cut', fromSeq: 0 }));
      proxy.sever();
      expect((await result)?.code).toBe(status.UNAVAILABLE);
      await sleep(150);
      expect(stream?.end).toBeUndefined();
      const second = publisher(t);
      second.call.write(open('resume-cut', true));
      const from = await nextSeqHeader(second);
      expect(from).toBe(5);
      second.call.write(chunk(from, TOKENS.slice(from)));
      second.call.end();
      expect((await second.result).response).toEqual({ streamId: 'resume-cut', tokensAccepted: 5, nextSeq: 10 });
      const { tokens, chunks, error } = await subscriber;
      expect(error).toBeUndefined();
      expect(tokens).toEqual(TOKENS);
      expectContiguous(chunks);
    } finally {
      viaProxy.close();
      await proxy.close();
    }
  });

  it('a resumed producer that resends from before the stored count stores each token once', async () => {
    const first = publisher(t);
    first.call.on('error', () => undefined);
    first.call.write(open('resume-overlap', true));
    first.call.write(chunk(0, TOKENS.slice(0, 5)));
    await waitFor(() => t.server.registry.get('resume-overlap')?.nextSeq === 5, 2000, 'five tokens');
    first.call.cancel();
    await first.result;
    await sleep(100);
    const second = publisher(t);
    second.call.write(open('resume-overlap', true));
    expect(await nextSeqHeader(second)).toBe(5);
    second.call.write(chunk(2, TOKENS.slice(2))); // resends 2..4, which are stored already
    second.call.end();
    expect((await second.result).response).toEqual({ streamId: 'resume-overlap', tokensAccepted: 5, nextSeq: 10 });
    expect((await collect(t.client.subscribe({ streamId: 'resume-overlap', fromSeq: 0 }))).tokens).toEqual(TOKENS);
  });

  it('while its producer is attached, or to a non-resumable open, the stream id is ALREADY_EXISTS', async () => {
    const first = publisher(t);
    first.call.on('error', () => undefined);
    first.call.write(open('resume-taken', true));
    first.call.write(chunk(0, ['one']));
    await waitFor(() => t.server.registry.get('resume-taken')?.nextSeq === 1, 2000, 'one token');
    const intruder = publisher(t);
    intruder.call.write(open('resume-taken', true));
    expect((await intruder.result).error?.code).toBe(status.ALREADY_EXISTS);

    first.call.cancel();
    await first.result;
    await sleep(100);
    const notResumable = publisher(t);
    notResumable.call.write(open('resume-taken', false));
    expect((await notResumable.result).error?.code).toBe(status.ALREADY_EXISTS);

    // The rightful resumption still works after both refusals.
    const second = publisher(t);
    second.call.write(open('resume-taken', true));
    expect(await nextSeqHeader(second)).toBe(1);
    second.call.write(chunk(1, [' two']));
    second.call.end();
    expect((await second.result).response?.nextSeq).toBe(2);
  });
});

describe('resumable Publish whose producer never comes back', () => {
  it('ends the stream with UNAVAILABLE after resumeGraceMs; its subscriber gets the tokens, then the status', async () => {
    const t = await startTestServer({ streams: { resumeGraceMs: 300 } });
    try {
      const p = publisher(t);
      p.call.on('error', () => undefined);
      p.call.write(open('resume-gone', true));
      p.call.write(chunk(0, TOKENS.slice(0, 3)));
      await waitFor(() => t.server.registry.get('resume-gone')?.nextSeq === 3, 2000, 'three tokens');
      const stream = t.server.registry.get('resume-gone');
      const subscriber = collect(t.client.subscribe({ streamId: 'resume-gone', fromSeq: 0 }));
      p.call.cancel();
      await p.result;
      await sleep(100);
      expect(stream?.end).toBeUndefined(); // within the grace window
      const { tokens, chunks, error } = await subscriber;
      expect(tokens).toEqual(TOKENS.slice(0, 3));
      expectContiguous(chunks);
      expect(error?.code).toBe(status.UNAVAILABLE);
      expect(error?.details).toBe('the publisher of stream resume-gone went away and did not resume within 300 ms');
      expect(stream?.end?.failure?.code).toBe(status.UNAVAILABLE);
      // Too late now: the ended stream is kept as it is for its readers, so a
      // new open of its id is ALREADY_EXISTS, and the tokens stay readable.
      const late = publisher(t);
      late.call.on('error', () => undefined);
      late.call.write(open('resume-gone', true));
      late.call.end();
      const { error: refused } = await late.result;
      expect({ code: refused?.code, details: refused?.details }).toEqual({
        code: status.ALREADY_EXISTS,
        details: 'stream_id: stream "resume-gone" already exists (it has finished)',
      });
      const again = await collect(t.client.subscribe({ streamId: 'resume-gone', fromSeq: 0 }));
      expect(again.tokens).toEqual(TOKENS.slice(0, 3));
    } finally {
      await t.close();
    }
  });
});
