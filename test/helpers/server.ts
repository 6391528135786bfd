import { type ClientReadableStream, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import pino, { type Logger } from 'pino';
import { DataServiceClient, type TokenChunk } from '../../src/gen/tokenrelay/v1/data_service';
import { parseConfig } from '../../src/core/config';
import { TokenRelayServer } from '../../src/server/server';

/** Test models: unpaced echo and sim, and a paced sim for cancellation and shutdown. */
export const TEST_MODELS = [
  { name: 'echo', backend: 'echo' },
  { name: 'sim', backend: 'sim', ttftMs: 0, interTokenMs: 0 },
  { name: 'slow', backend: 'sim', ttftMs: 0, interTokenMs: 20 },
];

export interface TestServer {
  server: TokenRelayServer;
  address: string;
  client: DataServiceClient;
  /** A second client on its own connection. */
  newClient(): DataServiceClient;
  close(): Promise<void>;
}

/** A pino logger that keeps every line it writes, for tests that read the logs. */
export function memoryLogger(level = 'info'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: pino({ level }, { write: (line: string) => void lines.push(line) }), lines };
}

let servers = 0;

/** Starts a real server on 127.0.0.1 with ephemeral ports and a generated client for it. */
export async function startTestServer(config: Record<string, unknown> = {}, options: { logger?: Logger } = {}): Promise<TestServer> {
  // TOKENRELAY_TEST_REDIS_URL runs a suite on the redis store instead (a developer's check; CI runs the memory store here).
  const redisUrl = process.env.TOKENRELAY_TEST_REDIS_URL;
  const onRedis = redisUrl
    ? {
        streams: { ...(config.streams as object), store: 'redis' },
        redis: { url: redisUrl, keyPrefix: `test${process.pid}x${++servers}`, leaseMs: 2000 },
      }
    : {};
  const server = await TokenRelayServer.start({
    config: parseConfig({ models: TEST_MODELS, defaultModel: 'sim', ...config, ...onRedis }),
    logger: options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    host: '127.0.0.1',
    grpcPort: 0,
    httpPort: 0,
  });
  if (redisUrl) await waitFor(() => server.store.ready, 5000, 'the redis store to be ready');
  const address = `127.0.0.1:${server.grpcPort}`;
  const clients: DataServiceClient[] = [];
  const newClient = () => {
    const client = new DataServiceClient(address, credentials.createInsecure());
    clients.push(client);
    return client;
  };
  return {
    server,
    address,
    client: newClient(),
    newClient,
    async close() {
      for (const client of clients) client.close();
      await server.shutdown();
    },
  };
}

export interface Collected {
  chunks: TokenChunk[];
  tokens: string[];
  error?: ServiceError;
}

/** Reads a server stream to its end: every chunk, and the error status if it failed. */
export function collect(call: ClientReadableStream<TokenChunk>): Promise<Collected> {
  return new Promise((resolve) => {
    const chunks: TokenChunk[] = [];
    call.on('data', (chunk: TokenChunk) => chunks.push(chunk));
    call.on('error', (error: ServiceError) => resolve({ chunks, tokens: chunks.flatMap((c) => c.tokens), error }));
    call.on('end', () => resolve({ chunks, tokens: chunks.flatMap((c) => c.tokens) }));
  });
}

/** A unary call as a promise. */
export function unary<Request, Response>(
  method: (request: Request, metadata: Metadata, callback: (error: ServiceError | null, response: Response) => void) => unknown,
  request: Request,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    method(request, new Metadata(), (error, response) => (error ? reject(error) : resolve(response)));
  });
}

/** Asserts every chunk's seq continues the one before, from `from`. */
export function expectContiguous(chunks: TokenChunk[], from = 0): void {
  let next = from;
  for (const chunk of chunks) {
    expect(chunk.seq).toBe(next);
    next += chunk.tokens.length;
  }
}

/** Waits until the predicate holds, polling; fails after timeoutMs. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A full GenerateRequest with defaults for what a test does not set. */
export function request(fields: Partial<import('../../src/gen/tokenrelay/v1/data_service').GenerateRequest>) {
  return { model: '', prompt: '', messages: [], stop: [], streamId: '', resumable: false, ...fields };
}
