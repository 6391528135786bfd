import { randomBytes } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import { TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { httpRequest } from '../helpers/httpClient';
import { collect, request, startTestServer, type TestServer } from '../helpers/server';

// Every metric label takes its values from a fixed or configured set, so no
// client can grow the number of time series: after 1,000 published streams
// with random model names, generations, requests to random paths and calls
// to methods that do not exist, every metric has a small, fixed number of
// series, and the model label is a configured model or "published".

let t: TestServer;
beforeAll(async () => (t = await startTestServer()));
afterAll(() => t.close());

const random = () => randomBytes(12).toString('hex');

function publish(streamId: string, model: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = t.client.publish((error) => (error ? reject(error) : resolve()));
    call.write({ open: { streamId, model, resumable: false } });
    call.write({ chunk: TokenChunk.fromPartial({ seq: 0, tokens: ['x'], finishReason: 1 }) });
    call.end();
  });
}

function callUnknownMethod(path: string): Promise<void> {
  return new Promise((resolve) => {
    const client = t.client as unknown as {
      makeUnaryRequest(
        path: string,
        serialize: (value: Buffer) => Buffer,
        deserialize: (value: Buffer) => Buffer,
        argument: Buffer,
        metadata: Metadata,
        callback: () => void,
      ): void;
    };
    client.makeUnaryRequest(
      path,
      (value) => value,
      (value) => value,
      Buffer.alloc(0),
      new Metadata(),
      () => resolve(),
    );
  });
}

it('1,000 streams with random model names, random paths and unknown methods leave every metric with a bounded number of series', async () => {
  for (let batch = 0; batch < 20; batch++) {
    await Promise.all(Array.from({ length: 50 }, () => publish(`card-${random()}`, `model-${random()}`)));
  }
  await Promise.all(Array.from({ length: 50 }, () => collect(t.client.generate(request({ model: 'echo', prompt: 'counted' })))));
  const port = t.server.httpPort as number;
  await Promise.all(Array.from({ length: 50 }, () => httpRequest(port, `/${random()}/${random()}`)));
  await Promise.all(Array.from({ length: 50 }, () => httpRequest(port, `/v1/streams/${random()}/events`)));
  await Promise.all(Array.from({ length: 50 }, () => callUnknownMethod(`/tokenrelay.v1.DataService/${random()}`)));
  await Promise.all(Array.from({ length: 50 }, () => callUnknownMethod(`/${random()}.Service/${random()}`)));

  const metrics = await t.server.metrics.registry.getMetricsAsJSON();
  const series = Object.fromEntries(
    metrics.map((metric) => {
      const labelSets = new Set(
        metric.values.map((value) => {
          const { le: _bucket, quantile: _quantile, ...labels } = value.labels as Record<string, unknown>;
          return JSON.stringify(labels);
        }),
      );
      return [metric.name, labelSets.size];
    }),
  );
  for (const [name, count] of Object.entries(series)) {
    // Fixed label sets: methods × codes, routes × statuses, reasons × models; a handful each, never one per request.
    expect({ name, bounded: count <= 40 }).toEqual({ name, bounded: true });
  }
  const ended = metrics.find((metric) => metric.name === 'tokenrelay_streams_ended_total');
  const models = new Set(ended?.values.map((value) => value.labels.model));
  expect([...models].sort()).toEqual(['echo', 'published']);
  const httpRoutes = new Set(
    metrics.find((metric) => metric.name === 'tokenrelay_http_requests_total')?.values.map((value) => value.labels.route),
  );
  expect([...httpRoutes].sort()).toEqual(['/v1/streams/{id}/events', 'other']);
  const methods = new Set(
    metrics.find((metric) => metric.name === 'tokenrelay_grpc_calls_total')?.values.map((value) => value.labels.method),
  );
  for (const method of methods) expect(String(method)).toMatch(/^(\/tokenrelay\.v1\.DataService\/(Publish|Generate)|other)$/);
  // The standard process metrics, under their standard names.
  expect(Object.keys(series)).toEqual(expect.arrayContaining(['process_cpu_seconds_total', 'nodejs_heap_size_used_bytes']));
});
