import { readFileSync } from 'node:fs';

/** One configured model: embedded, or served by an upstream HTTP server. */
export type ModelConfig = EmbeddedModelConfig | UpstreamModelConfig;

/** An embedded model: echo or sim. */
export interface EmbeddedModelConfig {
  /** The name clients put in GenerateRequest.model. */
  name: string;
  /** The producer behind it. */
  backend: 'echo' | 'sim';
  /** Time to first token, in ms. Default 0 for echo, 100 for sim. */
  ttftMs?: number;
  /** Time between tokens, in ms. Default 0 for echo, 10 for sim. */
  interTokenMs?: number;
}

/** Time limits on each request to an upstream, in ms. */
export interface UpstreamTimeoutsConfig {
  /** TCP (and TLS) connect. Default 10000. */
  connectMs: number;
  /** From sending the request to the response headers. Default 300000. */
  headersMs: number;
  /** Longest silence on the response body (between tokens); then the request is aborted and, after tokens, the stream ends with UNAVAILABLE. Default 60000. */
  idleMs: number;
}

/** Retry before the first token: full-jitter exponential backoff, honouring Retry-After. */
export interface UpstreamRetryConfig {
  /** Most attempts, the first included; 1 turns retry off. Default 3. */
  maxAttempts: number;
  /** Upper bound of the first retry's wait, in ms; it doubles each retry. Default 250. */
  baseMs: number;
  /** Upper bound of any jittered wait, in ms. Default 5000. */
  capMs: number;
  /** Longest Retry-After honoured, in ms; an upstream asking for longer is not retried. Default 30000. */
  maxRetryAfterMs: number;
}

/** A model served by an upstream: an OpenAI-compatible server (vLLM, llama.cpp, TGI, LM Studio, OpenAI) or Ollama. */
export interface UpstreamModelConfig {
  /** The name clients put in GenerateRequest.model. */
  name: string;
  /** "openai": POST {baseUrl}/chat/completions (SSE); "ollama": POST {baseUrl}/api/chat (NDJSON). */
  backend: 'openai' | 'ollama';
  /** http(s) URL the API path is appended to, e.g. "http://localhost:8000/v1" or "http://localhost:11434". No credentials, query or fragment; no trailing slash (removed). */
  baseUrl: string;
  /** The upstream's model id. Default: name. */
  model: string;
  /** Name of the environment variable holding the API key, sent as `Authorization: Bearer`. Read at startup; never logged. Default: no key. */
  apiKeyEnv?: string;
  /** Extra request headers. Default none. */
  headers: Record<string, string>;
  timeouts: UpstreamTimeoutsConfig;
  retry: UpstreamRetryConfig;
  /** Most requests in flight to this upstream. Default 64. */
  maxConcurrent: number;
  /** Most requests waiting for one of those; past that RESOURCE_EXHAUSTED. Default 256. */
  maxQueue: number;
}

/** Request limits; past one is INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for capacity). */
export interface LimitsConfig {
  /** Most streams live at once. Default 10000. */
  maxConcurrentStreams: number;
  /** Largest max_tokens a request may ask for. Default 4096. */
  maxTokens: number;
  /** max_tokens when a request sets none. Default 256. */
  defaultMaxTokens: number;
  /** Most UTF-8 bytes of prompt plus message contents. Default 65536. */
  maxPromptBytes: number;
  /** Largest gRPC message the server receives, in bytes. Default 4194304 (4 MiB). */
  maxMessageBytes: number;
  /** Most tokens one Publish stream may hold. Default 2097152. */
  maxPublishTokens: number;
}

/** The stream log's bounds. */
export interface StreamsConfig {
  /** Tokens a producer may run ahead of its slowest live consumer. Default 1024. */
  windowTokens: number;
  /** How long a finished stream stays readable, in ms. Default 300000 (5 min). */
  retentionMs: number;
  /** Most finished streams kept. Default 1000. */
  maxRetainedStreams: number;
  /** How long an abandoned resumable stream keeps producing, in ms. Default 30000. */
  resumeGraceMs: number;
  /** Most tokens coalesced into one chunk for a consumer that fell behind. Default 512. */
  maxChunkTokens: number;
  /** Most bytes (about) coalesced into one chunk. Default 65536. */
  maxChunkBytes: number;
  /**
   * How long a Publish half-close waits for a cancel that may follow it before
   * it ends the stream normally, in ms. Default 50. (grpc-js clients cancel
   * with END_STREAM then RST_STREAM, a few ms apart.)
   */
  halfCloseSettleMs: number;
  /** A consumer with no token sent for this long gets a heartbeat chunk, in ms. Default 15000. */
  heartbeatMs: number;
  /** "memory" (this process only; the default) or "redis" (shared by every replica; see `redis`). Env TOKENRELAY_STORE. */
  store: StoreKind;
}

/** Where streams live. */
export type StoreKind = 'memory' | 'redis';

/** The redis store: Redis (or Redis Cluster) shared by every replica. */
export interface RedisConfig {
  /** redis:// or rediss:// URL (a password in it is never logged); with `cluster`, any node of the cluster. Default redis://127.0.0.1:6379; env TOKENRELAY_REDIS_URL. */
  url: string;
  /** Talk to a Redis Cluster. Default false. */
  cluster: boolean;
  /** Prefix of every key, 1 to 64 characters from [A-Za-z0-9._:-]. Default "tokenrelay". */
  keyPrefix: string;
  /** A producing replica's lease on a stream, renewed every third of it, in ms (1000 to 300000). A dead producer is noticed within this plus a third. Default 10000. */
  leaseMs: number;
  /** Most ms to connect (100 to 60000). Default 5000. */
  connectTimeoutMs: number;
  /** Most ms a Redis command may take before the stream it serves fails with UNAVAILABLE (10 to 60000). Default 5000. */
  commandTimeoutMs: number;
}

/** A call's deadline bounds: a default for calls that set none, a maximum that clamps longer ones. 0 means none. */
export interface DeadlineConfig {
  defaultMs: number;
  maxMs: number;
}

/** Limits on a generation's pace, each a default and a maximum that clamps what a request asks for. */
export interface TimeoutsConfig {
  /** Time to first token when a request sets no ttft_timeout_ms, in ms. Default 60000. */
  ttftMs: number;
  /** The largest ttft_timeout_ms a request may set. Default 600000. */
  maxTtftMs: number;
  /** Most time between tokens when a request sets no idle_timeout_ms, in ms. Default 60000. */
  idleMs: number;
  /** The largest idle_timeout_ms a request may set. Default 600000. */
  maxIdleMs: number;
}

/** HTTP/2 keepalive pings from the server to its clients. */
export interface KeepaliveConfig {
  /** Ping a client after this long without a ping, in ms. Default 60000. */
  timeMs: number;
  /** Close the connection if the ping is not answered within this, in ms. Default 20000. */
  timeoutMs: number;
}

/** Optional bearer-token auth; with no tokens configured every call is allowed. */
export interface AuthConfig {
  /** Accepted tokens. Prefer tokensEnv: a config file is easy to leak. */
  tokens: string[];
  /** Name of an environment variable holding accepted tokens, comma-separated. */
  tokensEnv?: string;
}

export interface Config {
  models: ModelConfig[];
  /** The model used when a request names none. Default "sim" if configured, else the first model. */
  defaultModel: string;
  limits: LimitsConfig;
  streams: StreamsConfig;
  /** How long streams in flight may run after SIGTERM before they are ended with UNAVAILABLE, in ms. Default 10000. */
  shutdownGraceMs: number;
  /** Deadline bounds by DataService method name; "*" applies to methods not named. */
  deadlines: Record<string, DeadlineConfig>;
  timeouts: TimeoutsConfig;
  auth: AuthConfig;
  keepalive: KeepaliveConfig;
  redis: RedisConfig;
}

export const DEFAULT_MODELS: ModelConfig[] = [
  { name: 'sim', backend: 'sim', ttftMs: 100, interTokenMs: 10 },
  { name: 'echo', backend: 'echo' },
];

export const DEFAULT_LIMITS: LimitsConfig = {
  maxConcurrentStreams: 10_000,
  maxTokens: 4096,
  defaultMaxTokens: 256,
  maxPromptBytes: 65_536,
  maxMessageBytes: 4 * 1024 * 1024,
  maxPublishTokens: 2_097_152,
};

export const DEFAULT_STREAMS: StreamsConfig = {
  windowTokens: 1024,
  retentionMs: 300_000,
  maxRetainedStreams: 1000,
  resumeGraceMs: 30_000,
  maxChunkTokens: 512,
  maxChunkBytes: 65_536,
  halfCloseSettleMs: 50,
  heartbeatMs: 15_000,
  store: 'memory',
};

export const DEFAULT_REDIS: RedisConfig = {
  url: 'redis://127.0.0.1:6379',
  cluster: false,
  keyPrefix: 'tokenrelay',
  leaseMs: 10_000,
  connectTimeoutMs: 5000,
  commandTimeoutMs: 5000,
};

export const DEFAULT_DEADLINES: Record<string, DeadlineConfig> = {
  '*': { defaultMs: 600_000, maxMs: 3_600_000 },
  ListModels: { defaultMs: 10_000, maxMs: 60_000 },
  Cancel: { defaultMs: 10_000, maxMs: 60_000 },
  // Sessions and publishers live as long as their client wants; their streams have their own limits.
  StreamData: { defaultMs: 0, maxMs: 0 },
  Publish: { defaultMs: 0, maxMs: 0 },
};

export const DEFAULT_UPSTREAM_TIMEOUTS: UpstreamTimeoutsConfig = { connectMs: 10_000, headersMs: 300_000, idleMs: 60_000 };

export const DEFAULT_UPSTREAM_RETRY: UpstreamRetryConfig = { maxAttempts: 3, baseMs: 250, capMs: 5000, maxRetryAfterMs: 30_000 };

export const DEFAULT_KEEPALIVE: KeepaliveConfig = { timeMs: 60_000, timeoutMs: 20_000 };

export const DEFAULT_TIMEOUTS: TimeoutsConfig = { ttftMs: 60_000, maxTtftMs: 600_000, idleMs: 60_000, maxIdleMs: 600_000 };

const METHODS = ['ListModels', 'Generate', 'Subscribe', 'Publish', 'StreamData', 'Cancel'];

export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

/** A config problem, with the path of the field at fault. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function rejectUnknownKeys(value: Json, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new ConfigError(`${path}.${key}: unknown field (expected one of ${allowed.join(', ')})`);
  }
}

function number(value: unknown, path: string, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new ConfigError(`${path}: must be a number >= ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function section<T extends object>(raw: unknown, defaults: T, path: string, min: Partial<Record<keyof T, number>>): T {
  if (raw === undefined) return { ...defaults };
  if (!isObject(raw)) throw new ConfigError(`${path}: must be an object`);
  rejectUnknownKeys(raw, Object.keys(defaults), path);
  const result = { ...defaults } as Record<string, number>;
  for (const key of Object.keys(defaults)) {
    const minimum = (min as Record<string, number | undefined>)[key] ?? 0;
    result[key] = number(raw[key], `${path}.${key}`, minimum, (defaults as Record<string, number>)[key]);
  }
  return result as T;
}

function parseModel(raw: unknown, index: number): ModelConfig {
  const path = `models[${index}]`;
  if (!isObject(raw)) throw new ConfigError(`${path}: must be an object`);
  const name = raw.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9._:/-]{1,128}$/.test(name)) {
    throw new ConfigError(`${path}.name: must be 1 to 128 characters from [A-Za-z0-9._:/-], got ${JSON.stringify(name)}`);
  }
  const where = `${path} (${name})`;
  if (raw.backend === 'openai' || raw.backend === 'ollama') return parseUpstreamModel(raw, name, raw.backend, where);
  if (raw.backend !== 'echo' && raw.backend !== 'sim') {
    throw new ConfigError(`${where}.backend: unknown backend ${JSON.stringify(raw.backend)} (expected one of echo, sim, openai, ollama)`);
  }
  rejectUnknownKeys(raw, ['name', 'backend', 'ttftMs', 'interTokenMs'], where);
  const sim = raw.backend === 'sim';
  return {
    name,
    backend: raw.backend,
    ttftMs: number(raw.ttftMs, `${where}.ttftMs`, 0, sim ? 100 : 0),
    interTokenMs: number(raw.interTokenMs, `${where}.interTokenMs`, 0, sim ? 10 : 0),
  };
}

const UPSTREAM_FIELDS = ['name', 'backend', 'baseUrl', 'model', 'apiKeyEnv', 'headers', 'timeouts', 'retry', 'maxConcurrent', 'maxQueue'];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function parseUpstreamModel(raw: Json, name: string, backend: 'openai' | 'ollama', where: string): UpstreamModelConfig {
  rejectUnknownKeys(raw, UPSTREAM_FIELDS, where);
  const model = raw.model ?? name;
  if (typeof model !== 'string' || model === '')
    throw new ConfigError(`${where}.model: must be the upstream's model id, a non-empty string`);
  const timeouts = section(raw.timeouts, DEFAULT_UPSTREAM_TIMEOUTS, `${where}.timeouts`, { connectMs: 1, headersMs: 1, idleMs: 1 });
  const retry = section(raw.retry, DEFAULT_UPSTREAM_RETRY, `${where}.retry`, { maxAttempts: 1 });
  const maxConcurrent = number(raw.maxConcurrent, `${where}.maxConcurrent`, 1, 64);
  const maxQueue = number(raw.maxQueue, `${where}.maxQueue`, 0, 256);
  for (const [field, value] of [
    ['retry.maxAttempts', retry.maxAttempts],
    ['maxConcurrent', maxConcurrent],
    ['maxQueue', maxQueue],
  ] as const) {
    if (!Number.isInteger(value)) throw new ConfigError(`${where}.${field}: must be a whole number, got ${value}`);
  }
  return {
    name,
    backend,
    baseUrl: parseBaseUrl(raw.baseUrl, `${where}.baseUrl`, backend),
    model,
    ...parseApiKeyEnv(raw.apiKeyEnv, `${where}.apiKeyEnv`),
    headers: parseHeaders(raw.headers, `${where}.headers`, raw.apiKeyEnv !== undefined),
    timeouts,
    retry,
    maxConcurrent,
    maxQueue,
  };
}

function parseBaseUrl(raw: unknown, path: string, backend: 'openai' | 'ollama'): string {
  const example = backend === 'openai' ? 'http://localhost:8000/v1' : 'http://localhost:11434';
  if (raw === undefined) throw new ConfigError(`${path}: missing; the upstream's http(s) URL, e.g. "${example}"`);
  if (typeof raw !== 'string') throw new ConfigError(`${path}: must be a string URL, e.g. "${example}"`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${path}: not a valid URL: ${JSON.stringify(raw)} (e.g. "${example}")`);
  }
  // Credentials in a URL end up in logs and in ListModels: refuse them without repeating them.
  if (url.username || url.password) throw new ConfigError(`${path}: must not carry credentials; name an environment variable in apiKeyEnv`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${path}: must be an http or https URL, got ${JSON.stringify(raw)} (e.g. "${example}")`);
  }
  if (url.search || url.hash) throw new ConfigError(`${path}: must not have a query or fragment, got ${JSON.stringify(raw)}`);
  return url.href.replace(/\/+$/, '');
}

/** The key's variable must be set now, so the process does not start half-configured; its value is read where it is used. */
function parseApiKeyEnv(raw: unknown, path: string): { apiKeyEnv?: string } {
  if (raw === undefined) return {};
  // Not quoted: the commonest mistake here is pasting the key itself.
  if (typeof raw !== 'string' || !ENV_NAME.test(raw)) {
    throw new ConfigError(`${path}: must be the name of an environment variable (letters, digits and _), not the key itself`);
  }
  if (!process.env[raw]) throw new ConfigError(`${path}: environment variable ${raw} is unset or empty`);
  return { apiKeyEnv: raw };
}

function parseHeaders(raw: unknown, path: string, hasApiKey: boolean): Record<string, string> {
  if (raw === undefined) return {};
  if (!isObject(raw)) throw new ConfigError(`${path}: must be an object of header names to string values`);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (!HEADER_NAME.test(name)) throw new ConfigError(`${path}: ${JSON.stringify(name)} is not a valid header name`);
    if (typeof value !== 'string' || /[\r\n\0]/.test(value)) {
      throw new ConfigError(`${path}.${name}: must be a string without line breaks`);
    }
    if (hasApiKey && name.toLowerCase() === 'authorization') {
      throw new ConfigError(`${path}.${name}: apiKeyEnv already sets Authorization; set one or the other`);
    }
    headers[name] = value;
  }
  return headers;
}

/** Validates a parsed config object and fills in every default. */
export function parseConfig(raw: unknown): Config {
  if (!isObject(raw)) throw new ConfigError('config: must be a JSON object');
  rejectUnknownKeys(
    raw,
    ['models', 'defaultModel', 'limits', 'streams', 'shutdownGraceMs', 'deadlines', 'timeouts', 'auth', 'keepalive', 'redis'],
    'config',
  );
  let models = DEFAULT_MODELS;
  if (raw.models !== undefined) {
    if (!Array.isArray(raw.models) || raw.models.length === 0) throw new ConfigError('models: must be a non-empty array');
    models = raw.models.map(parseModel);
  }
  const names = new Set<string>();
  for (const [index, model] of models.entries()) {
    if (names.has(model.name)) throw new ConfigError(`models[${index}].name: duplicate model name ${JSON.stringify(model.name)}`);
    names.add(model.name);
  }
  const defaultModel = raw.defaultModel ?? (names.has('sim') ? 'sim' : models[0].name);
  if (typeof defaultModel !== 'string' || !names.has(defaultModel)) {
    throw new ConfigError(`defaultModel: ${JSON.stringify(defaultModel)} is not one of the configured models`);
  }
  const limits = section(raw.limits, DEFAULT_LIMITS, 'limits', {
    maxConcurrentStreams: 1,
    maxTokens: 1,
    defaultMaxTokens: 1,
    maxPromptBytes: 1,
    maxMessageBytes: 1024,
    maxPublishTokens: 1,
  });
  if (limits.defaultMaxTokens > limits.maxTokens) {
    throw new ConfigError(`limits.defaultMaxTokens: ${limits.defaultMaxTokens} is above limits.maxTokens (${limits.maxTokens})`);
  }
  const { store, ...numericStreams } = isObject(raw.streams) ? raw.streams : {};
  if (raw.streams !== undefined && !isObject(raw.streams)) throw new ConfigError('streams: must be an object');
  const { store: _defaultStore, ...numericDefaults } = DEFAULT_STREAMS;
  const streams: StreamsConfig = {
    ...section(raw.streams === undefined ? undefined : numericStreams, numericDefaults, 'streams', {
      windowTokens: 1,
      maxChunkTokens: 1,
      maxChunkBytes: 1,
      heartbeatMs: 1,
    }),
    store: parseStore(store, 'streams.store'),
  };
  const shutdownGraceMs = number(raw.shutdownGraceMs, 'shutdownGraceMs', 0, DEFAULT_SHUTDOWN_GRACE_MS);
  const timeouts = section(raw.timeouts, DEFAULT_TIMEOUTS, 'timeouts', { maxTtftMs: 1, maxIdleMs: 1 });
  return {
    models,
    defaultModel,
    limits,
    streams,
    shutdownGraceMs,
    deadlines: parseDeadlines(raw.deadlines),
    timeouts,
    auth: parseAuth(raw.auth),
    keepalive: section(raw.keepalive, DEFAULT_KEEPALIVE, 'keepalive', { timeMs: 1, timeoutMs: 1 }),
    redis: parseRedis(raw.redis),
  };
}

function parseStore(raw: unknown, path: string): StoreKind {
  if (raw === undefined) return DEFAULT_STREAMS.store;
  if (raw !== 'memory' && raw !== 'redis') throw new ConfigError(`${path}: must be "memory" or "redis", got ${JSON.stringify(raw)}`);
  return raw;
}

const KEY_PREFIX = /^[A-Za-z0-9._:-]{1,64}$/;

/** An integer in [min, max], or the default. */
function integerIn(raw: unknown, path: string, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min || raw > max) {
    throw new ConfigError(`${path}: must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

/** A redis:// or rediss:// URL with a host. The message never repeats a URL that may carry a password. */
export function checkRedisUrl(raw: unknown, path: string): string {
  const example = 'e.g. "redis://127.0.0.1:6379" or "rediss://user:password@redis.internal:6380/0"';
  if (typeof raw !== 'string') throw new ConfigError(`${path}: must be a string URL, ${example}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${path}: not a valid URL (${example})`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError(
      `${path}: must start with redis:// or rediss://, got ${JSON.stringify(url.protocol.replace(/:$/, ''))} (${example})`,
    );
  }
  if (!url.hostname) throw new ConfigError(`${path}: has no host (${example})`);
  if (url.pathname && !/^\/?(\d+)?$/.test(url.pathname)) throw new ConfigError(`${path}: the path must be a database number, ${example}`);
  return raw;
}

function parseRedis(raw: unknown): RedisConfig {
  if (raw === undefined) return { ...DEFAULT_REDIS };
  if (!isObject(raw)) throw new ConfigError('redis: must be an object');
  rejectUnknownKeys(raw, Object.keys(DEFAULT_REDIS), 'redis');
  if (raw.cluster !== undefined && typeof raw.cluster !== 'boolean') throw new ConfigError('redis.cluster: must be true or false');
  if (raw.keyPrefix !== undefined && (typeof raw.keyPrefix !== 'string' || !KEY_PREFIX.test(raw.keyPrefix))) {
    throw new ConfigError(`redis.keyPrefix: must be 1 to 64 characters from [A-Za-z0-9._:-], got ${JSON.stringify(raw.keyPrefix)}`);
  }
  return {
    url: raw.url === undefined ? DEFAULT_REDIS.url : checkRedisUrl(raw.url, 'redis.url'),
    cluster: (raw.cluster as boolean | undefined) ?? DEFAULT_REDIS.cluster,
    keyPrefix: (raw.keyPrefix as string | undefined) ?? DEFAULT_REDIS.keyPrefix,
    leaseMs: integerIn(raw.leaseMs, 'redis.leaseMs', 1000, 300_000, DEFAULT_REDIS.leaseMs),
    connectTimeoutMs: integerIn(raw.connectTimeoutMs, 'redis.connectTimeoutMs', 100, 60_000, DEFAULT_REDIS.connectTimeoutMs),
    commandTimeoutMs: integerIn(raw.commandTimeoutMs, 'redis.commandTimeoutMs', 10, 60_000, DEFAULT_REDIS.commandTimeoutMs),
  };
}

/**
 * The environment overlay: TOKENRELAY_STORE sets streams.store and
 * TOKENRELAY_REDIS_URL sets redis.url, over the file. A bad value is a
 * ConfigError naming the variable.
 */
export function applyEnvironment(config: Config, env: NodeJS.ProcessEnv = process.env): Config {
  const store = env.TOKENRELAY_STORE;
  const url = env.TOKENRELAY_REDIS_URL;
  return {
    ...config,
    streams: store ? { ...config.streams, store: parseStore(store, 'TOKENRELAY_STORE') } : config.streams,
    redis: url ? { ...config.redis, url: checkRedisUrl(url, 'TOKENRELAY_REDIS_URL') } : config.redis,
  };
}

function parseDeadlines(raw: unknown): Record<string, DeadlineConfig> {
  const deadlines = { ...DEFAULT_DEADLINES };
  if (raw === undefined) return deadlines;
  if (!isObject(raw)) throw new ConfigError('deadlines: must be an object keyed by method name or "*"');
  rejectUnknownKeys(raw, ['*', ...METHODS], 'deadlines');
  for (const [method, value] of Object.entries(raw)) {
    const base = deadlines[method] ?? deadlines['*'];
    const parsed = section(value, base, `deadlines.${method}`, {});
    const explicitDefault = isObject(value) && value.defaultMs !== undefined;
    if (!explicitDefault && parsed.maxMs > 0 && (parsed.defaultMs > parsed.maxMs || parsed.defaultMs === 0)) {
      parsed.defaultMs = parsed.maxMs; // an inherited default never exceeds the maximum set here
    }
    if (parsed.maxMs > 0 && parsed.defaultMs > parsed.maxMs) {
      throw new ConfigError(`deadlines.${method}.defaultMs: ${parsed.defaultMs} is above maxMs (${parsed.maxMs})`);
    }
    deadlines[method] = parsed;
  }
  return deadlines;
}

function parseAuth(raw: unknown): AuthConfig {
  if (raw === undefined) return { tokens: [] };
  if (!isObject(raw)) throw new ConfigError('auth: must be an object');
  rejectUnknownKeys(raw, ['tokens', 'tokensEnv'], 'auth');
  const tokens = raw.tokens ?? [];
  if (!Array.isArray(tokens) || tokens.some((token) => typeof token !== 'string' || token.length < 16)) {
    throw new ConfigError('auth.tokens: must be an array of strings of at least 16 characters');
  }
  if (raw.tokensEnv !== undefined && (typeof raw.tokensEnv !== 'string' || raw.tokensEnv === '')) {
    throw new ConfigError('auth.tokensEnv: must be the name of an environment variable');
  }
  return { tokens: tokens as string[], tokensEnv: raw.tokensEnv as string | undefined };
}

/** The deadline bounds that apply to a DataService method. */
export function deadlineFor(config: Config, method: string): DeadlineConfig {
  return config.deadlines[method] ?? config.deadlines['*'];
}

/** Reads and validates a JSON config file (no file means every default), then the environment overlay. */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): Config {
  return applyEnvironment(readConfigFile(file), env);
}

function readConfigFile(file?: string): Config {
  if (!file) return parseConfig({});
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`config file ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${file}: not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(raw);
}
