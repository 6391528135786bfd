import { credentials, Metadata, Server, ServerCredentials, type ServiceError } from '@grpc/grpc-js';
import { DataServiceClient, type DataServiceServer, type ListModelsResponse } from '../../src/gen/tokenrelay/v1/data_service';
import { callContextOf } from '../../src/grpc/interceptors/context';
import { serverInterceptors } from '../../src/grpc/interceptors';
import { parseConfig } from '../../src/core/config';
import { Metrics } from '../../src/server/metrics';
import type { CallContext } from '../../src/core/callContext';
import { DataServiceDefinition } from '../../src/grpc/definition';
import { memoryLogger } from '../helpers/server';
import { Principals } from '../../src/core/principals';

/**
 * The interceptors fill one typed context per call, which the handler reads:
 * the request id, the effective deadline, a signal that aborts when the call
 * ends. Nothing of it is written into the call's metadata.
 */

let server: Server;
let client: DataServiceClient;
const seen: Array<{ context: CallContext; metadataKeys: string[]; aborted: boolean }> = [];

beforeAll(async () => {
  const config = parseConfig({ deadlines: { ListModels: { defaultMs: 5000, maxMs: 8000 } } });
  server = new Server({
    interceptors: serverInterceptors({
      config,
      logger: memoryLogger().logger,
      metrics: new Metrics(),
      isDraining: () => false,
      principals: Principals.fromConfig(config.auth),
    }),
  });
  const handlers: Partial<DataServiceServer> = {
    listModels: (call, callback) => {
      const context = callContextOf(call.metadata);
      const entry = { context, metadataKeys: Object.keys(call.metadata.getMap()), aborted: context.signal.aborted };
      seen.push(entry);
      callback(null, { models: [], defaultModel: '' });
    },
  };
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

function listModels(metadata: Metadata, deadline?: number): Promise<ListModelsResponse> {
  return new Promise((resolve, reject) =>
    client.listModels({}, metadata, deadline ? { deadline } : {}, (error: ServiceError | null, value: ListModelsResponse) =>
      error ? reject(error) : resolve(value),
    ),
  );
}

it('the handler reads the request id, the effective deadline and a live signal from the context; the signal aborts when the call ends', async () => {
  const metadata = new Metadata();
  metadata.set('x-request-id', 'ctx-1');
  const before = Date.now();
  await listModels(metadata);
  const [first] = seen.splice(0);
  expect(first.context.requestId).toBe('ctx-1');
  expect(first.context.deadlineMs).toBeGreaterThanOrEqual(before + 5000); // the method's default
  expect(first.context.deadlineMs).toBeLessThanOrEqual(Date.now() + 5000);
  expect(first.aborted).toBe(false);
  expect(first.context.signal.aborted).toBe(true); // the call has ended
  // Nothing per call was written into the incoming metadata.
  expect(first.metadataKeys.filter((key) => key.startsWith('tokenrelay-'))).toEqual([]);
});

it('a longer client deadline is clamped to the method maximum in the context; a shorter one is kept', async () => {
  await listModels(new Metadata(), Date.now() + 60_000);
  await listModels(new Metadata(), Date.now() + 2000);
  const [long, short] = seen.splice(0);
  expect(long.context.deadlineMs).toBeLessThanOrEqual(Date.now() + 8000);
  expect(short.context.deadlineMs).toBeLessThanOrEqual(Date.now() + 2000);
  expect(long.context.requestId).not.toBe(short.context.requestId); // each call its own fresh id
});
