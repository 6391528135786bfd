#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { format, parseArgs } from 'node:util';
import { setLogger as setGrpcLogger } from '@grpc/grpc-js';
import { type ClientTls, type TokenRelayClient, createClient } from './client';
import { FinishReason } from './gen/tokenrelay/v1/data_service';
import { type Config, ConfigError, configJsonSchema, loadConfig } from './core/config';
import { TokenRelayError } from './client/errors';
import { Principals } from './core/principals';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, createLogger } from './server/logger';
import type { ListenError, TokenRelayServer } from './server/server';
import { VERSION } from './server/version';
import { MAX_WORKERS, isWorker, runPrimary, workerId } from './server/workers';

const HELP = `tokenrelay: relays language-model tokens over gRPC (HTTP/2) streams

Usage:
  tokenrelay serve [--grpc-port N] [--http-port N] [--host ADDR] [--config FILE] [--workers N]
                   [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--log-format pretty|json]
  tokenrelay generate [--addr HOST:PORT] [TLS] [--model NAME] [--max-tokens N] [--seed N] PROMPT
  tokenrelay models [--addr HOST:PORT] [TLS]
  tokenrelay config check FILE
  tokenrelay config schema
  tokenrelay --help | --version

serve      Serve DataService, Health and reflection on the gRPC port, and
           /healthz, /readyz and /metrics on the HTTP port. Stops gracefully on
           SIGTERM or SIGINT.
  --grpc-port N   gRPC port (env TOKENRELAY_GRPC_PORT, default 50051; 0 picks one)
  --http-port N   HTTP side port (env TOKENRELAY_HTTP_PORT, default 8080; 0 picks one)
  --host ADDR     interface to bind (env TOKENRELAY_HOST, default 0.0.0.0)
  --config FILE   JSON config file (env TOKENRELAY_CONFIG); without one the
                  models are "sim" (the default) and "echo"
  --workers N     processes serving the same ports, 1 to 64 (env
                  TOKENRELAY_WORKERS, default 1); more than one needs the
                  redis store (TOKENRELAY_STORE=redis, TOKENRELAY_REDIS_URL)
  --tls-cert FILE, --tls-key FILE
                  serve both ports over TLS with this PEM certificate chain
                  and key (env TOKENRELAY_TLS_CERT, TOKENRELAY_TLS_KEY; config
                  tls.certFile, tls.keyFile); SIGHUP re-reads them
  --tls-client-ca FILE
                  ask clients for a certificate signed by this PEM CA, and
                  refuse those without one (env TOKENRELAY_TLS_CLIENT_CA;
                  config tls.clientCaFile, tls.requireClientCert)
  --log-format pretty|json
                  force pretty or JSON log lines (env TOKENRELAY_LOG_FORMAT;
                  default pretty on a terminal, JSON otherwise)

generate   Start a generation and print its tokens as they arrive (and a
           newline at the end when stdout is not a terminal), then the usage
           on stderr. Ctrl-C cancels the call.
  --addr HOST:PORT  server address (env TOKENRELAY_ADDR, default 127.0.0.1:50051);
                    several, comma-separated, or dns:///NAME:PORT are balanced
  --model NAME      model (default: the server's default model)
  --max-tokens N    most tokens to generate (default: the server's, 256)
  --seed N          seed for deterministic output (default 0)
  A lost connection is resumed from the last token received; a server that
  cannot be reached at all is an error at once. Ctrl-C cancels the stream
  on the server.

models     List the server's models.
  --addr HOST:PORT  server address (env TOKENRELAY_ADDR, default 127.0.0.1:50051)

TLS, for generate and models (default plaintext):
  --tls             TLS, trusting the system's roots
  --ca FILE         TLS, trusting this PEM CA instead (env TOKENRELAY_CA)
  --cert FILE, --key FILE
                    a PEM client certificate and key, for a server that asks
                    for one (env TOKENRELAY_CERT, TOKENRELAY_KEY)

config check FILE   Validate a config file (and the TOKENRELAY_STORE and
                    TOKENRELAY_REDIS_URL overlay) without serving: "FILE: ok",
                    or the one-line error and exit 2.
config schema       Print the config file's JSON Schema: every field, its
                    default and its range.

Flags win over environment variables; TOKENRELAY_LOG_LEVEL sets the log
level (${LOG_LEVELS.join(', ')}; default info); TOKENRELAY_TOKEN is the
bearer token generate and models send, for a server with auth configured.

Exit codes: 0 done; 1 a failure at run time (the server could not be
reached, a call failed); 2 a usage, config or startup problem (a bad flag,
variable or config file, a port in use); 130 interrupted.
`;

/** A usage, config or startup problem: one line naming what to change, exit 2. */
function fail(message: string): never {
  process.stderr.write(`tokenrelay: ${message}\n`);
  process.exit(2);
}

/** A flag, or else its environment variable: the value, and the name to blame when it is wrong. */
function setting(values: Record<string, string | boolean | undefined>, flag: string, variable: string): [string | undefined, string] {
  const given = values[flag] as string | undefined;
  if (given !== undefined) return [given, `--${flag}`];
  return [process.env[variable], variable];
}

function port(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed > 65535) fail(`${name}: must be a port number from 0 to 65535, got ${JSON.stringify(value)}`);
  return parsed;
}

/**
 * The flag or variable to change for a port that could not be bound, and
 * how. `given` is where each value came from (the flag, or the variable that
 * set it), so the line starts with what the person wrote.
 */
function listenProblem(error: ListenError, given: { grpc: string; http: string; host: string }): string {
  const [flag, variable] = error.port === 'grpc' ? ['--grpc-port', 'TOKENRELAY_GRPC_PORT'] : ['--http-port', 'TOKENRELAY_HTTP_PORT'];
  const name = given[error.port];
  const where = `${error.host}:${error.portNumber}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return `${name}: ${where} is already in use (the ${error.port === 'grpc' ? 'gRPC' : 'HTTP'} port); choose another with ${flag} or ${variable} (0 picks a free one)`;
    case 'EACCES':
      return `${name}: ${where} needs privileges to bind; choose a port above 1023 with ${flag} or ${variable}`;
    case 'EADDRNOTAVAIL':
      return `${given.host}: ${error.host} is not an address of this machine; choose another with --host or TOKENRELAY_HOST (0.0.0.0 for every interface)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${given.host}: ${error.host} does not resolve; choose another with --host or TOKENRELAY_HOST`;
    default:
      return `${name}: cannot listen on ${where}: ${error.code ?? (error.cause as Error)?.message ?? 'unknown error'}`;
  }
}

/** A whole-number flag, or undefined when it is not given. */
function wholeNumber(values: Record<string, string | boolean | undefined>, flag: string, min: number): number | undefined {
  const value = values[flag] as string | undefined;
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value) || Number(value) < min)
    fail(`--${flag}: must be a whole number of at least ${min}, got ${JSON.stringify(value)}`);
  return Number(value);
}

function workerCount(value: string | undefined, name: string): number {
  if (value === undefined || value === '') return 1;
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < 1 || parsed > MAX_WORKERS)
    fail(`${name}: must be a whole number from 1 to ${MAX_WORKERS}, got ${value}`);
  return parsed;
}

async function serve(values: Record<string, string | boolean | undefined>): Promise<void> {
  const env = process.env;
  const workers = workerCount(...setting(values, 'workers', 'TOKENRELAY_WORKERS'));
  const level = env.TOKENRELAY_LOG_LEVEL || 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    fail(`TOKENRELAY_LOG_LEVEL: must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  }
  const [logFormat, formatName] = setting(values, 'log-format', 'TOKENRELAY_LOG_FORMAT');
  if (logFormat && !(LOG_FORMATS as readonly string[]).includes(logFormat)) {
    fail(`${formatName}: must be pretty or json, got ${JSON.stringify(logFormat)}`);
  }
  const logger = createLogger(level, workerId(), (logFormat || undefined) as LogFormat | undefined);
  // grpc-js's own lines (a client that broke the protocol, ...) join ours instead of going raw to stderr; not
  // its "No address added ..." for a port it could not bind, which the one line on stderr says better.
  const grpcLine = (...args: unknown[]) => {
    const line = format(...args);
    if (!line.startsWith('No address added')) logger.warn({ source: 'grpc-js' }, line);
  };
  setGrpcLogger({ error: grpcLine, info: grpcLine, debug: grpcLine });
  let config: Config;
  try {
    config = loadConfig((values.config as string | undefined) ?? env.TOKENRELAY_CONFIG);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  if (workers > 1 && config.streams.store !== 'redis') {
    fail(
      `--workers: ${workers} workers need streams.store "redis" (or TOKENRELAY_STORE=redis), got "${config.streams.store}": a stream kept in one worker's memory could not be resumed on another`,
    );
  }
  if (workers > 1 && !isWorker()) {
    runPrimary(workers, logger);
    return;
  }
  config = withTlsFlags(config, values);
  const [grpcValue, grpcName] = setting(values, 'grpc-port', 'TOKENRELAY_GRPC_PORT');
  const [httpValue, httpName] = setting(values, 'http-port', 'TOKENRELAY_HTTP_PORT');
  const [hostValue, hostName] = setting(values, 'host', 'TOKENRELAY_HOST');
  const grpcPort = port(grpcValue, grpcName, 50051);
  const httpPortNumber = port(httpValue, httpName, 8080);
  // Unset, or set to the empty string: the default, as for the ports.
  const given = {
    grpc: grpcValue ? grpcName : '--grpc-port',
    http: httpValue ? httpName : '--http-port',
    host: hostValue ? hostName : '--host',
  };
  // Loaded here, not at the top: the server's modules (OpenTelemetry, redis, the HTTP side) take
  // about a second to load, which generate, models, config and --version need not wait for.
  const { ListenError: ListenFailure, TokenRelayServer: Server } = await import('./server/server');
  // The handlers are in place before the server logs "tokenrelay serving": a
  // supervisor that stops it as soon as it reads that line gets a graceful
  // stop, not a process killed by the signal's default action.
  let server: TokenRelayServer | undefined;
  let stopping: string | undefined;
  const stop = (signal: string) => {
    stopping = signal;
    if (server === undefined) return; // still starting: it stops as soon as it has started
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
  try {
    server = await Server.start({
      config,
      logger,
      host: hostValue || '0.0.0.0',
      grpcPort,
      httpPort: httpPortNumber,
      configFile: (values.config as string | undefined) ?? env.TOKENRELAY_CONFIG,
    });
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    if (error instanceof ListenFailure) {
      logger.flush();
      fail(listenProblem(error, given));
    }
    throw error;
  }
  // A bug that escapes a handler's own guard is logged, never a crashed server.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
  const started = server;
  process.on('SIGHUP', () => started.reloadTls());
  if (stopping) stop(stopping);
}

/**
 * --tls-cert, --tls-key and --tls-client-ca (or their variables) over the
 * config's tls section. A client CA given here is required of clients,
 * unless the config's own tls section turns that off.
 */
function withTlsFlags(config: Config, values: Record<string, string | boolean | undefined>): Config {
  const env = process.env;
  const cert = (values['tls-cert'] as string | undefined) ?? env.TOKENRELAY_TLS_CERT;
  const key = (values['tls-key'] as string | undefined) ?? env.TOKENRELAY_TLS_KEY;
  const ca = (values['tls-client-ca'] as string | undefined) ?? env.TOKENRELAY_TLS_CLIENT_CA;
  if (!cert && !key && !ca) return config;
  const base = config.tls;
  const certFile = cert || base?.certFile;
  const keyFile = key || base?.keyFile;
  if (!certFile || !keyFile) fail(`--tls-${certFile ? 'key' : 'cert'}: TLS needs both --tls-cert and --tls-key`);
  const clientCaFile = ca || base?.clientCaFile;
  const requireClientCert = base?.clientCaFile !== undefined ? base.requireClientCert : clientCaFile !== undefined;
  return { ...config, tls: { certFile, keyFile, clientCaFile, requireClientCert } };
}

/** `config check FILE` and `config schema`: the config without a server. */
function configCommand(args: string[]): void {
  const [action, file, ...extra] = args;
  if (action === 'schema' && file === undefined) {
    process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    return;
  }
  if (action !== 'check' || file === undefined || extra.length > 0) fail('config: use "config check FILE" or "config schema"');
  try {
    // As serve reads it: the file, the environment overlay, and the tokens the auth section names.
    Principals.fromConfig(loadConfig(file).auth);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  process.stdout.write(`${file}: ok\n`);
}

/** The SDK for --addr (one host:port, several comma-separated, or a dns:/// name); a bad address is a usage error. */
function connect(values: Record<string, string | boolean | undefined>): TokenRelayClient {
  const addresses = (values.addr as string | undefined) ?? process.env.TOKENRELAY_ADDR ?? '127.0.0.1:50051';
  try {
    // A person waiting at a terminal learns at once that nothing answers; a stream that was flowing is still resumed.
    return createClient(addresses, { token: process.env.TOKENRELAY_TOKEN, tls: clientTls(values), firstConnect: 'fail' });
  } catch (error) {
    fail(`--addr: ${(error as Error).message}`);
  }
}

/** --tls, --ca, --cert and --key (or their variables): the SDK's tls option, files read here. */
function clientTls(values: Record<string, string | boolean | undefined>): ClientTls | undefined {
  const env = process.env;
  const files = {
    ca: (values.ca as string | undefined) ?? env.TOKENRELAY_CA,
    cert: (values.cert as string | undefined) ?? env.TOKENRELAY_CERT,
    key: (values.key as string | undefined) ?? env.TOKENRELAY_KEY,
  };
  if (!files.ca && !files.cert && !files.key) return values.tls ? true : undefined;
  if (!files.cert !== !files.key) fail(`--${files.cert ? 'key' : 'cert'}: a client certificate needs both --cert and --key`);
  const read = (flag: string, file: string | undefined) => {
    if (!file) return undefined;
    try {
      return readFileSync(file);
    } catch (error) {
      fail(`--${flag}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  return { ca: read('ca', files.ca), cert: read('cert', files.cert), key: read('key', files.key) };
}

async function generate(values: Record<string, string | boolean | undefined>, prompt: string): Promise<void> {
  const maxTokens = wholeNumber(values, 'max-tokens', 1);
  const seed = wholeNumber(values, 'seed', 0);
  const sdk = connect(values);
  // Ctrl-C aborts the stream: the SDK cancels it on the server, so the model stops too.
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort(new Error('interrupted')));
  /** Whether any text went to stdout (a failure then starts on a line of its own). */
  let wrote = false;
  try {
    const stream = sdk.generate(
      { model: (values.model as string | undefined) ?? '', prompt, maxTokens, seed },
      { signal: controller.signal },
    );
    for await (const chunk of stream) {
      wrote = true;
      process.stdout.write(chunk.tokens.join(''));
      if (chunk.finishReason !== FinishReason.FINISH_REASON_UNSPECIFIED) {
        const reason = FinishReason[chunk.finishReason].replace('FINISH_REASON_', '').toLowerCase();
        process.stderr.write(
          `\n[stream ${chunk.streamId}: ${reason}; prompt_tokens=${chunk.usage?.promptTokens ?? 0} completion_tokens=${chunk.usage?.completionTokens ?? 0}]\n`,
        );
      }
    }
    // A pipe or a file gets the text as a line.
    if (!process.stdout.isTTY) process.stdout.write('\n');
  } catch (error) {
    const problem = controller.signal.aborted ? 'interrupted; the stream was cancelled' : callProblem(error);
    process.stderr.write(`${wrote ? '\n' : ''}tokenrelay: ${problem}\n`);
    process.exitCode = controller.signal.aborted ? 130 : 1;
  } finally {
    // Let the Cancel reach the server before the channel closes.
    if (controller.signal.aborted) await new Promise((resolve) => setTimeout(resolve, 200));
    sdk.close();
  }
}

async function models(values: Record<string, string | boolean | undefined>): Promise<void> {
  const sdk = connect(values);
  try {
    const response = await sdk.listModels();
    for (const model of response.models) {
      const mark = model.name === response.defaultModel ? ' (default)' : '';
      const where = model.baseUrl ? ` ${model.baseUrl}` : '';
      process.stdout.write(`${model.name}${mark}\t${model.backend}${where}\t${model.description}\n`);
    }
  } catch (error) {
    process.stderr.write(`tokenrelay: ${callProblem(error)}\n`);
    process.exitCode = 1;
  } finally {
    sdk.close();
  }
}

/** A failed call, for a person: "cannot reach ADDRESS (why)" as it is, anything else with its status code. */
function callProblem(error: unknown): string {
  if (error instanceof TokenRelayError && error.details.startsWith('cannot reach ')) return error.details;
  return (error as Error).message;
}

function parseCommandLine() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        'log-format': { type: 'string' },
        'grpc-port': { type: 'string' },
        'http-port': { type: 'string' },
        host: { type: 'string' },
        config: { type: 'string' },
        workers: { type: 'string' },
        addr: { type: 'string' },
        model: { type: 'string' },
        'max-tokens': { type: 'string' },
        seed: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-client-ca': { type: 'string' },
        tls: { type: 'boolean' },
        ca: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
      },
    });
  } catch (error) {
    const message = (error as Error).message;
    const ambiguous = /^Option '(--[a-z-]+)[^']*' argument is ambiguous/.exec(message);
    if (ambiguous)
      fail(`${ambiguous[1]}: its value starts with a dash; write ${ambiguous[1]}=VALUE if you mean it (see tokenrelay --help)`);
    fail(`${message.split('\n')[0]} (see tokenrelay --help)`);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseCommandLine();
  const [command, ...rest] = positionals;
  if (values.version) {
    process.stdout.write(`tokenrelay ${VERSION}\n`);
    return;
  }
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
    case 'config':
      return configCommand(rest);
    default:
      fail(`unknown command ${JSON.stringify(command)}: use serve, generate, models or config (see tokenrelay --help)`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`tokenrelay: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
