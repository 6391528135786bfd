import { type ClientDuplexStream, type ServiceError, status } from '@grpc/grpc-js';
import { type DataRequest, type DataResponse, FinishReason } from '../../src/gen/tokenrelay/v1/data_service';
import { ErrorInfo } from '../../src/gen/google/rpc/error_details';
import { tokenize } from '../../src/core/models/tokenizer';
import { expectContiguous, request, startTestServer, type TestServer, waitFor } from '../helpers/server';

let t: TestServer;
beforeAll(async () => (t = await startTestServer()));
afterAll(() => t.close());

interface Session {
  call: ClientDuplexStream<DataRequest, DataResponse>;
  responses: DataResponse[];
  done: Promise<ServiceError | undefined>;
}

function session(): Session {
  const call = t.client.streamData();
  const responses: DataResponse[] = [];
  call.on('data', (response: DataResponse) => responses.push(response));
  const done = new Promise<ServiceError | undefined>((resolve) => {
    call.on('error', (error: ServiceError) => resolve(error));
    call.on('end', () => resolve(undefined));
  });
  return { call, responses, done };
}

const byRequest = (responses: DataResponse[], requestId: string) => responses.filter((r) => r.requestId === requestId);
const tokensOf = (responses: DataResponse[], requestId: string) => byRequest(responses, requestId).flatMap((r) => r.chunk?.tokens ?? []);

describe('StreamData', () => {
  it('runs several generations at once, each tagged with its request_id, and ends after the half-close', async () => {
    const s = session();
    s.call.write({ requestId: 'a', start: request({ model: 'echo', prompt: 'first answer, from echo' }) });
    s.call.write({ requestId: 'b', start: request({ model: 'sim', prompt: 'x', maxTokens: 40, seed: 9 }) });
    s.call.write({ requestId: 'p', ping: { nonce: 77 } });
    s.call.end();
    expect(await s.done).toBeUndefined();
    expect(tokensOf(s.responses, 'a')).toEqual(tokenize('first answer, from echo'));
    expect(tokensOf(s.responses, 'b')).toHaveLength(40);
    for (const id of ['a', 'b']) {
      const chunks = byRequest(s.responses, id).map((r) => r.chunk!);
      expectContiguous(chunks);
      expect(chunks[chunks.length - 1].finishReason).not.toBe(FinishReason.FINISH_REASON_UNSPECIFIED);
    }
    const pong = s.responses.find((r) => r.pong);
    expect(pong?.requestId).toBe('p');
    expect(pong?.pong?.nonce).toBe(77);
  });

  it('a cancel message stops one generation (error CANCELLED) while the other completes', async () => {
    const s = session();
    s.call.write({ requestId: 'long', start: request({ model: 'slow', prompt: 'x', maxTokens: 1000, streamId: 'sd-long' }) });
    s.call.write({ requestId: 'short', start: request({ model: 'echo', prompt: 'still here' }) });
    await waitFor(() => tokensOf(s.responses, 'long').length >= 2, 5000, 'two tokens of the long generation');
    const stream = t.server.registry.get('sd-long');
    s.call.write({ requestId: 'long', cancel: {} });
    s.call.end();
    expect(await s.done).toBeUndefined();
    expect(stream?.signal.aborted).toBe(true);
    const last = byRequest(s.responses, 'long').at(-1);
    expect(last?.error?.code).toBe(status.CANCELLED);
    expect(last?.error?.details.map((any) => ErrorInfo.decode(any.value).reason)).toEqual(['STREAM_CANCELLED']);
    expect(tokensOf(s.responses, 'short').join('')).toBe('still here');
  });

  it('a bad start is answered as that request’s error; the session carries on', async () => {
    const s = session();
    s.call.write({ requestId: 'bad', start: request({ model: 'nope', prompt: 'x' }) });
    s.call.write({ requestId: 'good', start: request({ model: 'echo', prompt: 'ok' }) });
    s.call.end();
    expect(await s.done).toBeUndefined();
    expect(byRequest(s.responses, 'bad')).toEqual([
      { requestId: 'bad', error: { code: status.NOT_FOUND, message: expect.stringMatching(/^model: /), details: [expect.anything()] } },
    ]);
    // The same ErrorInfo a failed call carries in its status details.
    const [info] = byRequest(s.responses, 'bad')[0].error?.details ?? [];
    expect(info.typeUrl).toBe('type.googleapis.com/google.rpc.ErrorInfo');
    expect(ErrorInfo.decode(info.value)).toEqual({ reason: 'MODEL_NOT_FOUND', domain: 'tokenrelay', metadata: {} });
    expect(tokensOf(s.responses, 'good').join('')).toBe('ok');
  });

  it('a duplicate live request_id ends the session with ALREADY_EXISTS naming request_id', async () => {
    const s = session();
    s.call.write({ requestId: 'twice', start: request({ model: 'slow', prompt: 'x', maxTokens: 1000 }) });
    s.call.write({ requestId: 'twice', start: request({ model: 'slow', prompt: 'x', maxTokens: 1000 }) });
    const error = await s.done;
    expect(error?.code).toBe(status.ALREADY_EXISTS);
    expect(error?.details).toMatch(/^request_id: /);
  });

  it('a start without a request_id is INVALID_ARGUMENT', async () => {
    const s = session();
    s.call.write({ requestId: '', start: request({ model: 'echo', prompt: 'x' }) });
    const error = await s.done;
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(/^request_id: /);
  });

  it('a client that cancels the session cancels its non-resumable generations', async () => {
    const s = session();
    s.call.write({ requestId: 'g', start: request({ model: 'slow', prompt: 'x', maxTokens: 1000, streamId: 'sd-gone' }) });
    await waitFor(() => tokensOf(s.responses, 'g').length >= 1, 5000, 'a token');
    const stream = t.server.registry.get('sd-gone');
    s.call.cancel();
    await waitFor(() => stream?.signal.aborted === true, 2000, 'the producer to be aborted');
    expect(stream?.end?.reason).toBe('cancelled');
  });
});
