#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { type ClientReadableStream, credentials, Metadata, status as Status } from '@grpc/grpc-js';
import { DataServiceClient, FinishReason, type TokenChunk } from './gen/tokenrelay/v1/data_service';
import { ConfigError, loadConfig } from './server/config';
import { createLogger } from './server/logger';
import { TokenRelayServer } from './server/server';

const HELP = `tokenrelay: relays language-model tokens over gRPC (HTTP/2) streams

Usage:
  tokenrelay serve [--grpc-port N] [--http-port N] [--host ADDR] [--config FILE]
  tokenrelay generate [--addr HOST:PORT] [--model NAME] [--max-tokens N] [--seed N] PROMPT
  tokenrelay models [--addr HOST:PORT]
  tokenrelay --help

serve      Serve DataService, Health and reflection on the gRPC port, and
           /healthz, /readyz and /metrics on the HTTP port. Stops gracefully on
           SIGTERM or SIGINT.
  --grpc-port N   gRPC port (env TOKENRELAY_GRPC_PORT, default 50051; 0 picks one)
  --http-port N   HTTP side port (env TOKENRELAY_HTTP_PORT, default 8080; 0 picks one)
  --host ADDR     interface to bind (env TOKENRELAY_HOST, default 0.0.0.0)
  --config FILE   JSON config file (env TOKENRELAY_CONFIG); without one the
                  models are "sim" (the default) and "echo"

generate   Start a generation and print its tokens as they arrive, then the
           usage on stderr. Ctrl-C cancels the call.
  --addr HOST:PORT  server address (env TOKENRELAY_ADDR, default 127.0.0.1:50051)
  --model NAME      model (default: the server's default model)
  --max-tokens N    most tokens to generate (default: the server's, 256)
  --seed N          seed for deterministic output (default 0)

models     List the server's models.
  --addr HOST:PORT  server address (env TOKENRELAY_ADDR, default 127.0.0.1:50051)

Flags win over environment variables; TOKENRELAY_LOG_LEVEL sets the log
level (default info). Logs are JSON lines, pretty on a terminal.
`;

function fail(message: string): never {
  process.stderr.write(`tokenrelay: ${message}\n`);
  process.exit(2);
}

function port(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) fail(`${name}: not a port number: ${value}`);
  return parsed;
}

async function serve(values: Record<string, string | boolean | undefined>): Promise<void> {
  const env = process.env;
  const logger = createLogger();
  let config;
  try {
    config = loadConfig((values.config as string | undefined) ?? env.TOKENRELAY_CONFIG);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const server = await TokenRelayServer.start({
    config,
    logger,
    host: (values.host as string | undefined) ?? env.TOKENRELAY_HOST ?? '0.0.0.0',
    grpcPort: port((values['grpc-port'] as string | undefined) ?? env.TOKENRELAY_GRPC_PORT, '--grpc-port', 50051),
    httpPort: port((values['http-port'] as string | undefined) ?? env.TOKENRELAY_HTTP_PORT, '--http-port', 8080),
  });
  const stop = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    server.shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

function client(values: Record<string, string | boolean | undefined>): DataServiceClient {
  const address = (values.addr as string | undefined) ?? process.env.TOKENRELAY_ADDR ?? '127.0.0.1:50051';
  return new DataServiceClient(address, credentials.createInsecure());
}

async function generate(values: Record<string, string | boolean | undefined>, prompt: string): Promise<void> {
  const service = client(values);
  const maxTokens = values['max-tokens'] === undefined ? undefined : Number(values['max-tokens']);
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  const call: ClientReadableStream<TokenChunk> = service.generate(
    { model: (values.model as string | undefined) ?? '', prompt, messages: [], maxTokens, stop: [], seed, streamId: '', resumable: false },
    new Metadata(),
  );
  process.once('SIGINT', () => call.cancel());
  await new Promise<void>((resolve) => {
    call.on('data', (chunk: TokenChunk) => {
      process.stdout.write(chunk.tokens.join(''));
      if (chunk.finishReason !== FinishReason.FINISH_REASON_UNSPECIFIED) {
        const reason = FinishReason[chunk.finishReason].replace('FINISH_REASON_', '').toLowerCase();
        process.stderr.write(
          `\n[stream ${chunk.streamId}: ${reason}; prompt_tokens=${chunk.usage?.promptTokens ?? 0} completion_tokens=${chunk.usage?.completionTokens ?? 0}]\n`,
        );
      }
    });
    call.on('error', (error: { code: number; details: string }) => {
      process.stderr.write(`\ntokenrelay: ${Status[error.code]}: ${error.details}\n`);
      process.exitCode = 1;
      resolve();
    });
    call.on('end', () => resolve());
  });
  service.close();
}

async function models(values: Record<string, string | boolean | undefined>): Promise<void> {
  const service = client(values);
  await new Promise<void>((resolve) => {
    service.listModels({}, (error, response) => {
      if (error) {
        process.stderr.write(`tokenrelay: ${Status[error.code]}: ${error.details}\n`);
        process.exitCode = 1;
      } else {
        for (const model of response.models) {
          const mark = model.name === response.defaultModel ? ' (default)' : '';
          const where = model.baseUrl ? ` ${model.baseUrl}` : '';
          process.stdout.write(`${model.name}${mark}\t${model.backend}${where}\t${model.description}\n`);
        }
      }
      resolve();
    });
  });
  service.close();
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        'grpc-port': { type: 'string' },
        'http-port': { type: 'string' },
        host: { type: 'string' },
        config: { type: 'string' },
        addr: { type: 'string' },
        model: { type: 'string' },
        'max-tokens': { type: 'string' },
        seed: { type: 'string' },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${HELP}`);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(HELP);
    return;
  }
  switch (command) {
    case 'serve':
      return serve(values);
    case 'generate':
      if (rest.length === 0) fail('generate: give a PROMPT');
      return generate(values, rest.join(' '));
    case 'models':
      return models(values);
    default:
      fail(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`tokenrelay: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
