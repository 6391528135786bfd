import { type ClientWritableStream, type ServiceError, status } from '@grpc/grpc-js';
import { FinishReason, type PublishRequest, type PublishResponse, TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import http2 from 'node:http2';
import { PublishRequest as PublishRequestMessage } from '../../src/gen/tokenrelay/v1/data_service';
import { grpcFrame, rawGrpcCall } from '../helpers/rawWire';
import { collect, expectContiguous, startTestServer, type TestServer, waitFor } from '../helpers/server';

let t: TestServer;
beforeAll(async () => (t = await startTestServer()));
afterAll(() => t.close());

interface Publisher {
  call: ClientWritableStream<PublishRequest>;
  result: Promise<{ response?: PublishResponse; error?: ServiceError }>;
}

function publisher(): Publisher {
  let call!: ClientWritableStream<PublishRequest>;
  const result = new Promise<{ response?: PublishResponse; error?: ServiceError }>((resolve) => {
    call = t.client.publish((error, response) => resolve(error ? { error } : { response }));
  });
  return { call, result };
}

function chunk(seq: number, tokens: string[], extra: Partial<TokenChunk> = {}): PublishRequest {
  return { chunk: TokenChunk.fromPartial({ seq, tokens, ...extra }) };
}

describe('Publish', () => {
  it('appends an external producer’s tokens that a subscriber reads live, ended by the half-close', async () => {
    const p = publisher();
    p.call.write({ open: { streamId: 'pub-1', model: 'worker-7', resumable: false } });
    p.call.write(chunk(0, ['Hello', ',']));
    await waitFor(() => t.server.registry.get('pub-1') !== undefined, 2000, 'the stream to open');
    const subscriber = collect(t.client.subscribe({ streamId: 'pub-1', fromSeq: 0 }));
    p.call.write(chunk(2, [' world']));
    p.call.write(chunk(3, ['!']));
    p.call.end();
    expect(await p.result).toEqual({ response: { streamId: 'pub-1', tokensAccepted: 4, nextSeq: 4 } });
    const { chunks, tokens, error } = await subscriber;
    expect(error).toBeUndefined();
    expect(tokens).toEqual(['Hello', ',', ' world', '!']);
    expectContiguous(chunks);
    expect(chunks[chunks.length - 1]).toMatchObject({
      finishReason: FinishReason.FINISH_REASON_STOP,
      usage: { promptTokens: 0, completionTokens: 4 },
    });
  });

  it('ignores tokens already stored, so a producer may resend after a reconnect', async () => {
    const p = publisher();
    p.call.write({ open: { streamId: 'pub-dup', model: '', resumable: false } });
    p.call.write(chunk(0, ['a', 'b', 'c']));
    p.call.write(chunk(1, ['b', 'c', 'd'])); // overlaps: only d is new
    p.call.write(chunk(0, ['a'])); // all stored: ignored
    p.call.write(chunk(4, ['e'], { finishReason: FinishReason.FINISH_REASON_LENGTH }));
    p.call.end();
    expect((await p.result).response).toEqual({ streamId: 'pub-dup', tokensAccepted: 5, nextSeq: 5 });
    const { tokens, chunks } = await collect(t.client.subscribe({ streamId: 'pub-dup', fromSeq: 0 }));
    expect(tokens).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(chunks[chunks.length - 1].finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
  });

  it('a gap in sequence numbers is FAILED_PRECONDITION, and the tokens already stored stay readable', async () => {
    const p = publisher();
    p.call.write({ open: { streamId: 'pub-gap', model: '', resumable: false } });
    p.call.write(chunk(0, ['x', 'y']));
    p.call.write(chunk(5, ['z']));
    const { error } = await p.result;
    expect(error?.code).toBe(status.FAILED_PRECONDITION);
    expect(error?.details).toBe("chunk.seq: 5 leaves a gap; the stream's next seq is 2");
    const replay = await collect(t.client.subscribe({ streamId: 'pub-gap', fromSeq: 0 }));
    expect(replay.tokens).toEqual(['x', 'y']);
    expect(replay.error?.code).toBe(status.UNAVAILABLE);
  });

  it('a second live producer on the same stream id is ALREADY_EXISTS; the first carries on', async () => {
    const first = publisher();
    first.call.write({ open: { streamId: 'pub-twice', model: '', resumable: false } });
    first.call.write(chunk(0, ['one']));
    await waitFor(() => t.server.registry.get('pub-twice') !== undefined, 2000, 'the stream to open');
    const second = publisher();
    second.call.write({ open: { streamId: 'pub-twice', model: '', resumable: false } });
    const { error } = await second.result;
    expect(error?.code).toBe(status.ALREADY_EXISTS);
    first.call.write(chunk(1, ['two']));
    first.call.end();
    expect((await first.result).response?.tokensAccepted).toBe(2);
  });

  it('a token that is not valid UTF-8 is INVALID_ARGUMENT naming its index; the tokens before that message stay, a real U+FFFD passes', async () => {
    const encode = (request: PublishRequest) => grpcFrame(PublishRequestMessage.encode(request).finish());
    // chunk { seq: 2, tokens: ["c", "\uFFFD" (valid), 0xC3 0x28 (invalid)] }, written by hand: no client encoder writes bad UTF-8.
    const tokenChunk = Buffer.from([0x10, 0x02, 0x1a, 0x01, 0x63, 0x1a, 0x03, 0xef, 0xbf, 0xbd, 0x1a, 0x02, 0xc3, 0x28]);
    const badMessage = Buffer.concat([Buffer.from([0x12, tokenChunk.length]), tokenChunk]);
    const session = http2.connect(`http://${t.address}`);
    try {
      const reply = await rawGrpcCall(session, '/tokenrelay.v1.DataService/Publish', {}, [
        encode({ open: { streamId: 'pub-utf8', model: '', resumable: false } }),
        encode(chunk(0, ['a', 'b'])),
        grpcFrame(badMessage),
      ]);
      expect({ status: reply.grpcStatus, message: reply.grpcMessage }).toEqual({
        status: status.INVALID_ARGUMENT,
        message: 'chunk.tokens[2]: not valid UTF-8 (tokens are text: join the byte pieces of a character before publishing it)',
      });
    } finally {
      session.close();
    }
    expect((await collect(t.client.subscribe({ streamId: 'pub-utf8', fromSeq: 0 }))).tokens).toEqual(['a', 'b']);

    const p = publisher();
    p.call.write({ open: { streamId: 'pub-replacement-char', model: '', resumable: false } });
    p.call.write(chunk(0, ['\uFFFD', 'ok']));
    p.call.end();
    expect((await p.result).response?.tokensAccepted).toBe(2);
    expect((await collect(t.client.subscribe({ streamId: 'pub-replacement-char', fromSeq: 0 }))).tokens).toEqual(['\uFFFD', 'ok']);
  });

  it('a first message that is not an open is INVALID_ARGUMENT naming open', async () => {
    const p = publisher();
    p.call.write(chunk(0, ['a']));
    const { error } = await p.result;
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(/^open: /);
  });

  it('a producer that breaks without half-closing ends the stream with UNAVAILABLE; its tokens stay', async () => {
    const p = publisher();
    p.call.on('error', () => undefined);
    p.call.write({ open: { streamId: 'pub-broken', model: '', resumable: false } });
    p.call.write(chunk(0, ['kept', ' tokens']));
    await waitFor(() => (t.server.registry.get('pub-broken')?.nextSeq ?? 0) === 2, 2000, 'two tokens');
    const subscriber = collect(t.client.subscribe({ streamId: 'pub-broken', fromSeq: 0 }));
    p.call.cancel();
    const { tokens, error } = await subscriber;
    expect(tokens).toEqual(['kept', ' tokens']);
    expect(error?.code).toBe(status.UNAVAILABLE);
  });

  it('a Cancel of the stream ends the producer’s call with CANCELLED', async () => {
    const p = publisher();
    p.call.on('error', () => undefined);
    p.call.write({ open: { streamId: 'pub-cancel', model: '', resumable: false } });
    await waitFor(() => t.server.registry.get('pub-cancel') !== undefined, 2000, 'the stream to open');
    await new Promise((resolve, reject) =>
      t.client.cancel({ streamId: 'pub-cancel' }, (error, response) => (error ? reject(error) : resolve(response))),
    );
    expect((await p.result).error?.code).toBe(status.CANCELLED);
  });
});
