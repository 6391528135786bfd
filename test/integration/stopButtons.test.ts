import { createClient } from '../../src/client';
import { ProbeModel } from '../helpers/probeModel';
import { startTestServer, waitFor } from '../helpers/server';
import { TcpProxy } from '../helpers/tcpProxy';

/**
 * Node's HTTP/2 rapid-reset protection (on Node 20: a burst of 1000
 * RST_STREAMs, then 33/s) kills a whole connection when a client resets many
 * streams at once. The SDK stops a stream by asking the server to Cancel it,
 * so the server ends the call and no RST_STREAM crosses the wire.
 */
describe('stop-button storms through the SDK', () => {
  it('1,500 streams on one connection stopped at once: the connection and a later stream survive', async () => {
    // 1,500 streams on one connection: past the default of 1,000 per connection,
    // which would queue them in the client, and past the 1,000 resets a stock
    // Node server takes in a burst. A Cancel that fails is followed by a
    // reset, so on a loaded machine Cancels passing their deadline would make
    // the very storm under test: a token a second keeps the server from being
    // saturated before the storm, and the Cancels get 30 s instead of 10.
    const t = await startTestServer({ limits: { maxStreamsPerConnection: 10_000 } });
    const probe = new ProbeModel('probe', 1000);
    t.server.models.register(probe);
    const proxy = await TcpProxy.start(t.server.grpcPort);
    const sdk = createClient(proxy.address, { deadlines: { Cancel: 30_000 } });
    try {
      const count = 1500;
      const controllers = Array.from({ length: count }, () => new AbortController());
      const loops = controllers.map(async (controller) => {
        const stream = sdk.generate({ model: 'probe', prompt: 'x', maxTokens: 4000 }, { signal: controller.signal });
        try {
          for await (const _chunk of stream) {
            // keep reading until stopped
          }
          return 'finished';
        } catch (error) {
          return controller.signal.aborted ? 'stopped' : `failed: ${(error as Error).message}`;
        }
      });
      await waitFor(() => t.server.registry.activeCount === count, 60_000, 'every stream to start');
      await waitFor(() => probe.runs.length === count && probe.runs.every((run) => run.tokens > 0), 60_000, 'tokens on every stream');
      for (const controller of controllers) controller.abort(new Error('stop'));
      const outcomes = await Promise.all(loops);
      expect(outcomes.filter((outcome) => outcome !== 'stopped')).toEqual([]);
      await waitFor(() => t.server.registry.activeCount === 0, 30_000, 'every stream to be cancelled on the server');
      expect(probe.runs.every((run) => run.abortedMs !== undefined)).toBe(true);
      const after: string[] = [];
      for await (const chunk of sdk.generate({ model: 'echo', prompt: 'still connected' })) after.push(...chunk.tokens);
      expect(after.join('')).toBe('still connected');
      expect(proxy.accepted).toBe(1);
    } finally {
      sdk.close();
      await proxy.close();
      await t.close();
    }
    // Seconds here; several times that on a slow CI machine, where storms of streams run slowest.
  }, 180_000);
});
