import { status } from '@grpc/grpc-js';
import { collect, request, startTestServer, type TestServer, unary, waitFor } from '../helpers/server';
import type { CancelResponse } from '../../src/gen/tokenrelay/v1/data_service';

let t: TestServer;
beforeAll(async () => (t = await startTestServer()));
afterAll(() => t.close());

describe('Cancel', () => {
  it('stops a live stream: its producer is aborted and its consumer gets CANCELLED', async () => {
    const call = t.client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 1000, streamId: 'to-cancel' }));
    const result = collect(call);
    await waitFor(() => (t.server.registry.get('to-cancel')?.nextSeq ?? 0) >= 3, 5000, 'three tokens');
    const stream = t.server.registry.get('to-cancel');
    const response = await unary<{ streamId: string }, CancelResponse>(t.client.cancel.bind(t.client), { streamId: 'to-cancel' });
    expect(response).toEqual({ streamId: 'to-cancel', cancelled: true });
    expect(stream?.signal.aborted).toBe(true);
    const { error, tokens } = await result;
    expect(error?.code).toBe(status.CANCELLED);
    expect(tokens.length).toBeGreaterThanOrEqual(3);
    expect(tokens.length).toBeLessThan(1000);
    const stored = stream?.nextSeq;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stream?.nextSeq).toBe(stored); // no tokens after the cancel
  });

  it('is safe to retry: cancelling an ended stream answers cancelled=false', async () => {
    await collect(t.client.generate(request({ model: 'echo', prompt: 'done', streamId: 'already-done' })));
    const response = await unary<{ streamId: string }, CancelResponse>(t.client.cancel.bind(t.client), { streamId: 'already-done' });
    expect(response).toEqual({ streamId: 'already-done', cancelled: false });
  });

  it('an unknown stream is NOT_FOUND', async () => {
    await expect(unary(t.client.cancel.bind(t.client), { streamId: 'missing' })).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: expect.stringMatching(/^stream_id: /),
    });
  });

  it('a consumer that cancels its Generate call cancels a non-resumable stream', async () => {
    const call = t.client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 1000, streamId: 'walk-away' }));
    call.on('error', () => undefined);
    await waitFor(() => (t.server.registry.get('walk-away')?.nextSeq ?? 0) >= 2, 5000, 'two tokens');
    const stream = t.server.registry.get('walk-away');
    call.cancel();
    await waitFor(() => stream?.signal.aborted === true, 2000, 'the producer to be aborted');
    expect(stream?.end?.reason).toBe('cancelled');
  });
});
