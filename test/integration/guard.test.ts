import { credentials, Metadata, Server, ServerCredentials, type ServiceError, status } from '@grpc/grpc-js';
import type http from 'node:http';
import {
  DataServiceClient,
  type DataServiceServer,
  type ListModelsResponse,
  type PublishResponse,
} from '../../src/gen/tokenrelay/v1/data_service';
import { serverInterceptors } from '../../src/grpc/interceptors';
import { parseConfig } from '../../src/core/config';
import { httpPort, startHttpSide } from '../../src/server/httpServer';
import { Metrics } from '../../src/server/metrics';
import { DataServiceDefinition } from '../../src/grpc/definition';
import { httpRequest } from '../helpers/httpClient';
import { collect, memoryLogger, request } from '../helpers/server';
import { Principals } from '../../src/core/principals';

/**
 * The guards: an exception thrown anywhere on a request's path ends that
 * request alone (INTERNAL or 500, with the request id to quote), is logged
 * with its stack, and the server goes on serving. The handlers here are
 * written to throw where no handler of ours catches: inside grpc-js's
 * message delivery, and in the HTTP side port's request listener.
 */

const BUG = 'a bug deep inside a handler';
const log = memoryLogger('info');
const records = () => log.lines.map((line) => JSON.parse(line) as { msg: string; requestId?: string; err?: { stack: string } });

let server: Server;
let client: DataServiceClient;

const handlers: Partial<DataServiceServer> = {
  listModels: (_call, callback) => callback(null, { models: [], defaultModel: 'none' }),
  // Throws from a 'data' listener: grpc-js delivers the message from inside the interceptor chain.
  publish: (call) => {
    call.on('data', () => {
      throw new Error(BUG);
    });
  },
  streamData: (call) => {
    call.on('data', () => {
      throw new Error(BUG);
    });
  },
  // Throws synchronously: grpc-js answers UNKNOWN, which the guard turns into INTERNAL.
  generate: () => {
    throw new Error(BUG);
  },
};

beforeAll(async () => {
  const config = parseConfig({});
  server = new Server({
    interceptors: serverInterceptors({
      config,
      logger: log.logger,
      metrics: new Metrics(),
      isDraining: () => false,
      principals: Principals.fromConfig(config.auth),
    }),
  });
  server.addService(DataServiceDefinition, handlers as DataServiceServer);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  client = new DataServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
});
afterAll(async () => {
  client.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
});

function withRequestId(id: string): Metadata {
  const metadata = new Metadata();
  metadata.set('x-request-id', id);
  return metadata;
}

function expectLoggedWithStack(requestId: string): void {
  const line = records().find((entry) => entry.requestId === requestId && entry.err);
  expect(line?.err?.stack).toContain(BUG);
  expect(line?.err?.stack).toMatch(/\n\s+at /);
}

async function expectStillServing(): Promise<void> {
  const response = await new Promise<ListModelsResponse>((resolve, reject) =>
    client.listModels({}, (error: ServiceError | null, value: ListModelsResponse) => (error ? reject(error) : resolve(value))),
  );
  expect(response.defaultModel).toBe('none');
}

describe('the gRPC guard', () => {
  it("an exception in a client-streaming handler's message listener ends that call with INTERNAL naming the request id", async () => {
    const error = await new Promise<ServiceError>((resolve) => {
      const call = client.publish(withRequestId('guard-publish'), (failure: ServiceError | null, _response?: PublishResponse) =>
        resolve(failure as ServiceError),
      );
      call.write({ open: { streamId: 's', model: '', resumable: false } });
    });
    expect(error.code).toBe(status.INTERNAL);
    expect(error.details).toBe('internal error (request id guard-publish)');
    expectLoggedWithStack('guard-publish');
    await expectStillServing();
  });

  it("an exception in a bidi handler's message listener ends that call with INTERNAL, and the call does not hang", async () => {
    const call = client.streamData(withRequestId('guard-session'));
    const ended = new Promise<ServiceError>((resolve) => call.on('error', resolve));
    call.on('data', () => undefined);
    call.write({ requestId: 'a', ping: { nonce: 1 } });
    const error = await ended;
    expect(error.code).toBe(status.INTERNAL);
    expect(error.details).toBe('internal error (request id guard-session)');
    expectLoggedWithStack('guard-session');
    await expectStillServing();
  });

  it("a handler that throws synchronously is INTERNAL, not grpc-js's UNKNOWN", async () => {
    const { error } = await collect(client.generate(request({ prompt: 'x' }), withRequestId('guard-generate')));
    expect(error?.code).toBe(status.INTERNAL);
    expect(error?.details).toBe('internal error (request id guard-generate)');
    await expectStillServing();
  });
});

describe('the HTTP guard', () => {
  let side: http.Server;
  beforeAll(async () => {
    side = await startHttpSide({
      host: '127.0.0.1',
      port: 0,
      metrics: new Metrics(),
      logger: log.logger,
      isReady: () => true,
      api: (request) => {
        if (request.url === '/throws') throw new Error(BUG);
        return false;
      },
    });
  });
  afterAll(() => new Promise<void>((resolve) => side.close(() => resolve())));

  it("an exception on a request's path is a 500 for that request alone, with its request id, and is logged with its stack", async () => {
    const reply = await httpRequest(httpPort(side), '/throws');
    expect(reply.status).toBe(500);
    const requestId = String(reply.headers['x-request-id']);
    expect(reply.text).toBe(`internal error (request id ${requestId})\n`);
    expectLoggedWithStack(requestId);
    expect((await httpRequest(httpPort(side), '/healthz')).status).toBe(200);
  });

  it('a request target no URL parser takes is a 400, not a crash', async () => {
    const { rawHttp } = await import('../helpers/rawWire');
    const reply = await rawHttp(httpPort(side), Buffer.from('GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    expect(reply.status).toBe(400);
    expect((await httpRequest(httpPort(side), '/healthz')).status).toBe(200);
  });
});
