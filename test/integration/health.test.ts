import { status } from '@grpc/grpc-js';
import { check, healthClient, type HealthClient } from '../helpers/health';
import { collect, request, startTestServer, type TestServer } from '../helpers/server';

let t: TestServer;
let health: HealthClient;
beforeAll(async () => {
  t = await startTestServer();
  health = healthClient(t.address);
});
afterAll(async () => {
  health.close();
  await t.close();
});

async function get(path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${t.server.httpPort}${path}`);
  return { status: response.status, body: await response.text() };
}

describe('health and the HTTP side port', () => {
  it('grpc.health.v1 Check is SERVING for "" and for DataService, NOT_FOUND for others', async () => {
    expect(await check(health, '')).toBe('SERVING');
    expect(await check(health, 'tokenrelay.v1.DataService')).toBe('SERVING');
    await expect(check(health, 'nope.Service')).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it('/healthz and /readyz answer 200 while serving; other paths 404', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect(await get('/readyz')).toEqual({ status: 200, body: 'ready\n' });
    expect((await get('/nope')).status).toBe(404);
  });

  it('/metrics counts calls by method and code, tokens relayed, streams ended, and time to first token', async () => {
    const { tokens } = await collect(t.client.generate(request({ model: 'echo', prompt: 'count these four' })));
    await collect(t.client.generate(request({ model: 'nope', prompt: 'x' })));
    const { status: code, body } = await get('/metrics');
    expect(code).toBe(200);
    expect(body).toMatch(/tokenrelay_grpc_calls_total\{method="\/tokenrelay.v1.DataService\/Generate",code="OK"\} [1-9]/);
    expect(body).toMatch(/tokenrelay_grpc_calls_total\{method="\/tokenrelay.v1.DataService\/Generate",code="NOT_FOUND"\} 1/);
    const relayed = Number(/^tokenrelay_tokens_relayed_total (\d+)/m.exec(body)?.[1]);
    expect(relayed).toBeGreaterThanOrEqual(tokens.length);
    expect(body).toMatch(/tokenrelay_streams_ended_total\{reason="stop",model="echo"\} [1-9]/);
    expect(body).toMatch(/tokenrelay_time_to_first_token_seconds_count\{model="echo"\} [1-9]/);
    expect(body).toMatch(/^tokenrelay_active_streams 0$/m);
  });
});
