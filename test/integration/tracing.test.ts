import { createServer } from 'node:net';
import { credentials, Metadata } from '@grpc/grpc-js';
import { ConfigError, applyEnvironment, parseConfig } from '../../src/core/config';
import { DataServiceClient } from '../../src/gen/tokenrelay/v1/data_service';
import { FakeUpstream, openAiReply } from '../helpers/fakeUpstream';
import { httpRequest } from '../helpers/httpClient';
import { OtlpReceiver, type ReceivedSpan } from '../helpers/otlpReceiver';
import { type ServerProcess, serveProcess } from '../helpers/process';
import { collect, request, TEST_MODELS, waitFor } from '../helpers/server';

// OpenTelemetry traces from a real `tokenrelay serve`, exported by OTLP/HTTP
// to a receiver inside the test: the caller's traceparent is the parent of
// the call's span, the generation is its child, each upstream attempt the
// generation's, and the upstream request carries the attempt's own
// traceparent. Off, nothing is exported and nothing is sent upstream.

const TOKENS = ['Traced', ' tokens', ' all', ' the', ' way'];
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;
/** The standard batch delay, short, so spans reach the receiver within the test. */
const QUICK_EXPORT = { OTEL_BSP_SCHEDULE_DELAY: '20', OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '500' };

let receiver: OtlpReceiver;
let fake: FakeUpstream;
let relay: ServerProcess;
let client: DataServiceClient;
const started: ServerProcess[] = [];
const clients: DataServiceClient[] = [];

async function serve(config: object): Promise<{ server: ServerProcess; client: DataServiceClient }> {
  const server = await serveProcess(config, 0, { env: QUICK_EXPORT });
  started.push(server);
  const opened = new DataServiceClient(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
  clients.push(opened);
  return { server, client: opened };
}

beforeAll(async () => {
  receiver = await OtlpReceiver.start();
  fake = await FakeUpstream.start(openAiReply(TOKENS, { usage: { prompt: 7, completion: 5 } }));
  ({ server: relay, client } = await serve({
    models: [...TEST_MODELS, { name: 'gpt', backend: 'openai', baseUrl: `${fake.url}/v1` }],
    telemetry: { otlpEndpoint: receiver.url },
  }));
});
afterAll(async () => {
  for (const opened of clients) opened.close();
  for (const server of started) {
    server.kill('SIGTERM');
    await server.exit;
  }
  await fake?.close();
  await receiver?.close();
});

function traced(traceparent: string): Metadata {
  const metadata = new Metadata();
  metadata.set('traceparent', traceparent);
  return metadata;
}

/** The trace's spans once the named ones have all arrived. */
async function spansOf(traceId: string, names: string[]): Promise<ReceivedSpan[]> {
  await waitFor(() => names.every((name) => receiver.trace(traceId).some((span) => span.name === name)), 5000, `spans ${names.join(', ')}`);
  return receiver.trace(traceId);
}

it('a Generate with a traceparent: call span, generation span, upstream attempt span, and the trace id upstream', async () => {
  const { tokens, error } = await collect(
    client.generate(request({ model: 'gpt', prompt: 'Trace me', maxTokens: 50 }), traced(TRACEPARENT)),
  );
  expect(error).toBeUndefined();
  expect(tokens).toEqual(TOKENS);

  const spans = await spansOf(TRACE_ID, ['tokenrelay.v1.DataService/Generate', 'text_completion gpt', 'POST']);
  const call = spans.find((span) => span.name === 'tokenrelay.v1.DataService/Generate');
  const generation = spans.find((span) => span.name === 'text_completion gpt');
  const attempt = spans.find((span) => span.name === 'POST');
  expect(call).toMatchObject({
    kind: 2,
    parentSpanId: CALLER_SPAN,
    attributes: { 'rpc.system': 'grpc', 'rpc.service': 'tokenrelay.v1.DataService', 'rpc.method': 'Generate', 'rpc.grpc.status_code': 0 },
    resource: expect.objectContaining({ 'service.name': 'tokenrelay' }),
  });
  expect(generation).toMatchObject({
    kind: 1,
    parentSpanId: call?.spanId,
    statusCode: 0,
    attributes: {
      'gen_ai.operation.name': 'text_completion',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt',
      'gen_ai.request.max_tokens': 50,
      'gen_ai.usage.input_tokens': 7,
      'gen_ai.usage.output_tokens': 5,
      'gen_ai.response.finish_reasons': ['stop'],
      'tokenrelay.stream.seq.first': 0,
      'tokenrelay.stream.seq.last': 4,
      'tokenrelay.upstream.attempts': 1,
    },
  });
  expect(generation?.attributes['tokenrelay.stream.id']).toEqual(expect.any(String));
  expect(generation?.events.map((event) => event.name)).toEqual(['gen_ai.first_token']);
  expect(attempt).toMatchObject({
    kind: 3,
    parentSpanId: generation?.spanId,
    attributes: { 'http.request.method': 'POST', 'url.full': `${fake.url}/v1/chat/completions`, 'http.response.status_code': 200 },
  });
  // The upstream was called in the same trace, as the attempt's child.
  expect(fake.requests.at(-1)?.headers.traceparent).toBe(`00-${TRACE_ID}-${attempt?.spanId}-01`);
});

it('a chat completion over HTTP: the request span, named by its route, parents the generation', async () => {
  const traceId = 'a'.repeat(32);
  const reply = await httpRequest(relay.httpPort, '/v1/chat/completions', {
    method: 'POST',
    headers: { traceparent: `00-${traceId}-${'b'.repeat(16)}-01` },
    body: { model: 'echo', messages: [{ role: 'user', content: 'over http' }] },
  });
  expect(reply.status).toBe(200);
  const spans = await spansOf(traceId, ['POST /v1/chat/completions', 'chat echo']);
  const http = spans.find((span) => span.name === 'POST /v1/chat/completions');
  expect(http).toMatchObject({
    kind: 2,
    parentSpanId: 'b'.repeat(16),
    attributes: { 'http.request.method': 'POST', 'http.route': '/v1/chat/completions', 'http.response.status_code': 200 },
  });
  expect(spans.find((span) => span.name === 'chat echo')).toMatchObject({
    parentSpanId: http?.spanId,
    attributes: { 'gen_ai.usage.output_tokens': 2 },
  });
});

it('a cancelled generation is not an error span, and says why it ended', async () => {
  const traceId = 'c'.repeat(32);
  const call = client.generate(request({ model: 'slow', prompt: 'x', maxTokens: 1000 }), traced(`00-${traceId}-${'d'.repeat(16)}-01`));
  await new Promise<void>((resolve) => call.once('data', () => resolve()));
  call.on('error', () => undefined);
  call.cancel();
  const generation = (await spansOf(traceId, ['text_completion slow'])).find((span) => span.name === 'text_completion slow');
  expect(generation).toMatchObject({
    statusCode: 0,
    attributes: {
      'gen_ai.response.finish_reasons': ['cancelled'],
      'tokenrelay.error.reason': 'STREAM_CANCELLED',
      'tokenrelay.cancelled_by': 'abandoned',
    },
  });
});

it('with telemetry off nothing is exported and nothing goes upstream', async () => {
  const quiet = await serve({ models: [...TEST_MODELS, { name: 'gpt', backend: 'openai', baseUrl: `${fake.url}/v1` }] });
  const traceId = 'e'.repeat(32);
  const { tokens } = await collect(
    quiet.client.generate(request({ model: 'gpt', prompt: 'x' }), traced(`00-${traceId}-${'f'.repeat(16)}-01`)),
  );
  expect(tokens).toEqual(TOKENS);
  expect(fake.requests.at(-1)?.headers.traceparent).toBeUndefined();
  // The traced relay exports within its 20 ms batch delay; give the quiet one ten times that.
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(receiver.trace(traceId)).toEqual([]);
});

it('a collector that is down costs the call nothing: the tokens arrive, and the spans are counted as dropped', async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const lost = await serve({ telemetry: { otlpEndpoint: `http://127.0.0.1:${port}/v1/traces` } });
  const { tokens, error } = await collect(
    lost.client.generate(request({ model: 'echo', prompt: 'nobody is listening' }), traced(TRACEPARENT)),
  );
  expect(error).toBeUndefined();
  expect(tokens.join('')).toBe('nobody is listening');
  let metrics = '';
  await waitFor(
    () => {
      void httpRequest(lost.server.httpPort, '/metrics').then((reply) => (metrics = reply.text));
      return /tokenrelay_trace_spans_total\{outcome="dropped"\} [1-9]/.test(metrics);
    },
    10_000,
    'the dropped spans in /metrics',
  );
  expect(metrics).not.toMatch(/tokenrelay_trace_spans_total\{outcome="exported"\} [1-9]/);
});

describe('the endpoint', () => {
  it('follows the OTEL_* variables over the file, and OTEL_SDK_DISABLED turns traces off', () => {
    const config = parseConfig({ telemetry: { otlpEndpoint: 'http://file:4318/v1/traces' } });
    expect(applyEnvironment(config, {}).telemetry.otlpEndpoint).toBe('http://file:4318/v1/traces');
    expect(applyEnvironment(config, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318/' }).telemetry.otlpEndpoint).toBe(
      'http://env:4318/v1/traces',
    );
    expect(
      applyEnvironment(config, {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces:443/x',
      }).telemetry.otlpEndpoint,
    ).toBe('https://traces:443/x');
    expect(applyEnvironment(config, { OTEL_SDK_DISABLED: 'true' }).telemetry.otlpEndpoint).toBeUndefined();
  });

  it('a malformed endpoint is a startup error naming the key or the variable', () => {
    expect(() => parseConfig({ telemetry: { otlpEndpoint: 'collector:4318' } })).toThrow(
      new ConfigError('telemetry.otlpEndpoint: must start with http:// or https://, got "collector"'),
    );
    expect(() => parseConfig({ telemetry: { otlpEndpoint: 'not a url' } })).toThrow(/^telemetry\.otlpEndpoint: not a valid URL/);
    expect(() => applyEnvironment(parseConfig({}), { OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://x:4317' })).toThrow(
      new ConfigError('OTEL_EXPORTER_OTLP_ENDPOINT: must start with http:// or https://, got "grpc"'),
    );
  });
});
