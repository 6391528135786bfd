import { readFileSync } from 'node:fs';
import { z } from 'zod/v4';
import type { ModelConfig } from './models';
import { METHODS, configSchema, httpUrlSchema, limitsSchema, redisUrlSchema, storeSchema, streamsSchema } from './schema';

export type { EmbeddedModelConfig, ModelConfig, UpstreamModelConfig, UpstreamRetryConfig, UpstreamTimeoutsConfig } from './models';
export { MAX_TIMER_MS } from './fields';

type Parsed = z.output<typeof configSchema>;

export type LimitsConfig = Parsed['limits'];
export type StreamsConfig = Parsed['streams'];
export type StoreKind = StreamsConfig['store'];
export type TimeoutsConfig = Parsed['timeouts'];
export type KeepaliveConfig = Parsed['keepalive'];
export type RedisConfig = Parsed['redis'];
export type AuthConfig = Parsed['auth'];
export type TelemetryConfig = Parsed['telemetry'];
export type CacheConfig = Parsed['cache'];

/** TLS on both ports; requireClientCert resolved (true when a client CA is set, unless turned off). */
export interface TlsConfig {
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
  requireClientCert: boolean;
}

/** A call's deadline bounds: a default for calls that set none, a maximum that clamps longer ones. 0 means none. */
export interface DeadlineConfig {
  defaultMs: number;
  maxMs: number;
}

/** The whole config, every default filled in (the schema in schema.ts is where each field, its default and its range are). */
export interface Config {
  models: ModelConfig[];
  /** The model used when a request names none. */
  defaultModel: string;
  limits: LimitsConfig;
  streams: StreamsConfig;
  /** How long streams in flight may run after SIGTERM before they end with UNAVAILABLE, in ms. */
  shutdownGraceMs: number;
  /** Deadline bounds by DataService method name; "*" applies to the methods not named. */
  deadlines: Record<string, DeadlineConfig>;
  timeouts: TimeoutsConfig;
  auth: AuthConfig;
  keepalive: KeepaliveConfig;
  redis: RedisConfig;
  /** Absent: both ports are plaintext. */
  tls?: TlsConfig;
  /** Traces; otlpEndpoint absent: none. After applyEnvironment, the endpoint the OTEL_* variables name wins. */
  telemetry: TelemetryConfig;
  /** The response cache; ttlMs 0: off. */
  cache: CacheConfig;
}

/** A config problem, one line naming the field at fault. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export const DEFAULT_MODELS: ModelConfig[] = [
  { name: 'sim', backend: 'sim', ttftMs: 100, interTokenMs: 10 },
  { name: 'echo', backend: 'echo', ttftMs: 0, interTokenMs: 0 },
];
export const DEFAULT_LIMITS: LimitsConfig = limitsSchema.parse(undefined);
export const DEFAULT_STREAMS: StreamsConfig = streamsSchema.parse(undefined);
export const DEFAULT_DEADLINES: Readonly<Record<string, DeadlineConfig>> = {
  '*': { defaultMs: 600_000, maxMs: 3_600_000 },
  ListModels: { defaultMs: 10_000, maxMs: 60_000 },
  Cancel: { defaultMs: 10_000, maxMs: 60_000 },
  // A session lives as long as its client wants; its streams have their own limits.
  StreamData: { defaultMs: 0, maxMs: 0 },
  // A publisher that sets no deadline gets an hour, so a stuck one cannot hold its stream forever; one that sets a longer deadline keeps it.
  Publish: { defaultMs: 3_600_000, maxMs: 0 },
};

const MODEL_NAME = /^[A-Za-z0-9._:/-]{1,128}$/;

/** Where an issue is, as the messages name it: `limits.maxTokens`, `models[1] (remote).baseUrl`, `config.port`. */
function where(path: readonly PropertyKey[], raw: unknown): string {
  let text = '';
  for (const [index, key] of path.entries()) {
    if (typeof key === 'number') {
      text += `[${key}]`;
      // A model entry is named by its index and, when it has a good one and the problem is not its name, its name.
      const name = (raw as { models?: Array<{ name?: unknown }> }).models?.[key]?.name;
      if (
        path[0] === 'models' &&
        index === 1 &&
        path.length > 2 &&
        path[2] !== 'name' &&
        typeof name === 'string' &&
        MODEL_NAME.test(name)
      ) {
        text += ` (${name})`;
      }
    } else {
      text += text ? `.${String(key)}` : String(key);
    }
  }
  return text || 'config';
}

function describe(issue: z.core.$ZodIssue, raw: unknown): string {
  if (issue.code !== 'unrecognized_keys') return `${where(issue.path, raw)}: ${issue.message}`;
  // An unknown field is named by its own path; one at the top as config.<field>.
  const path = where([...issue.path, issue.keys[0]], raw);
  return `${issue.path.length === 0 ? `config.${path}` : path}: ${issue.message}`;
}

/** Validates a parsed config object and fills in every default. Throws a ConfigError naming the first field at fault. */
export function parseConfig(raw: unknown): Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError('config: must be a JSON object');
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    // A misspelt key explains the errors around it, so it is named first.
    const { issues } = result.error;
    throw new ConfigError(describe(issues.find((issue) => issue.code === 'unrecognized_keys') ?? issues[0], raw));
  }
  const parsed = result.data;
  const models = parsed.models ?? DEFAULT_MODELS;
  const names = new Set<string>();
  for (const [index, model] of models.entries()) {
    if (names.has(model.name)) throw new ConfigError(`models[${index}].name: duplicate model name ${JSON.stringify(model.name)}`);
    names.add(model.name);
  }
  const defaultModel = parsed.defaultModel ?? (names.has('sim') ? 'sim' : models[0].name);
  if (!names.has(defaultModel)) throw new ConfigError(`defaultModel: ${JSON.stringify(defaultModel)} is not one of the configured models`);
  const { limits } = parsed;
  if (limits.defaultMaxTokens > limits.maxTokens) {
    throw new ConfigError(`limits.defaultMaxTokens: ${limits.defaultMaxTokens} is above limits.maxTokens (${limits.maxTokens})`);
  }
  const { auth } = parsed;
  for (const protect of ['protectMetrics', 'protectReflection'] as const) {
    if (auth[protect] && auth.tokens.length === 0 && auth.tokensEnv === undefined && auth.principals.length === 0) {
      throw new ConfigError(`auth.${protect}: true needs bearer tokens (auth.tokens, auth.tokensEnv or auth.principals) to check`);
    }
  }
  return { ...parsed, models, defaultModel, deadlines: mergeDeadlines(parsed.deadlines), tls: resolveTls(parsed.tls) };
}

/** requireClientCert defaults to whether a client CA is set; requiring one without a CA to check it against is an error. */
export function resolveTls(tls: Parsed['tls']): TlsConfig | undefined {
  if (!tls) return undefined;
  const requireClientCert = tls.requireClientCert ?? tls.clientCaFile !== undefined;
  if (requireClientCert && tls.clientCaFile === undefined) {
    throw new ConfigError('tls.requireClientCert: true needs tls.clientCaFile, the CA that signs the client certificates');
  }
  return { ...tls, requireClientCert };
}

/**
 * The deadline bounds: the defaults, overridden method by method. A bound
 * given only a maximum inherits a default no longer than it (so
 * `{ "maxMs": 5000 }` is also the default); an explicit default above the
 * maximum is an error.
 */
function mergeDeadlines(given: Parsed['deadlines']): Record<string, DeadlineConfig> {
  const deadlines: Record<string, DeadlineConfig> = { ...DEFAULT_DEADLINES };
  for (const method of ['*', ...METHODS]) {
    const bound = given[method as keyof typeof given];
    if (!bound) continue;
    const base = deadlines[method] ?? deadlines['*'];
    const merged = { defaultMs: bound.defaultMs ?? base.defaultMs, maxMs: bound.maxMs ?? base.maxMs };
    if (bound.defaultMs === undefined && merged.maxMs > 0 && (merged.defaultMs > merged.maxMs || merged.defaultMs === 0)) {
      merged.defaultMs = merged.maxMs;
    }
    if (merged.maxMs > 0 && merged.defaultMs > merged.maxMs) {
      throw new ConfigError(`deadlines.${method}.defaultMs: ${merged.defaultMs} is above maxMs (${merged.maxMs})`);
    }
    deadlines[method] = merged;
  }
  return deadlines;
}

/** The deadline bounds that apply to a DataService method. */
export function deadlineFor(config: Config, method: string): DeadlineConfig {
  return config.deadlines[method] ?? config.deadlines['*'];
}

/** A redis:// or rediss:// URL for `path` (a config key or a variable); ConfigError otherwise, never repeating the URL. */
export function checkRedisUrl(raw: unknown, path: string): string {
  const result = redisUrlSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(`${path}: ${result.error.issues[0].message}`);
  return result.data;
}

/**
 * Where traces go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
 * OTEL_EXPORTER_OTLP_ENDPOINT with /v1/traces (as the OTLP specification
 * says), else the file's telemetry.otlpEndpoint; none when
 * OTEL_SDK_DISABLED is true. A bad value is a ConfigError naming it.
 */
function otlpEndpoint(config: Config, env: NodeJS.ProcessEnv): string | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const check = (raw: string, name: string) => {
    const result = httpUrlSchema.safeParse(raw);
    if (!result.success) throw new ConfigError(`${name}: ${result.error.issues[0].message}`);
    return result.data;
  };
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return check(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    const base = check(env.OTEL_EXPORTER_OTLP_ENDPOINT, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    return `${base.replace(/\/+$/, '')}/v1/traces`;
  }
  return config.telemetry.otlpEndpoint;
}

/**
 * The environment overlay: TOKENRELAY_STORE sets streams.store,
 * TOKENRELAY_REDIS_URL sets redis.url, and the OTEL_* endpoint variables set
 * telemetry.otlpEndpoint, over the file. A bad value is a ConfigError naming
 * the variable.
 */
export function applyEnvironment(config: Config, env: NodeJS.ProcessEnv = process.env): Config {
  const store = env.TOKENRELAY_STORE;
  const url = env.TOKENRELAY_REDIS_URL;
  let streams = config.streams;
  if (store) {
    const result = storeSchema.safeParse(store);
    if (!result.success) throw new ConfigError(`TOKENRELAY_STORE: ${result.error.issues[0].message}`);
    streams = { ...streams, store: result.data };
  }
  return {
    ...config,
    streams,
    redis: url ? { ...config.redis, url: checkRedisUrl(url, 'TOKENRELAY_REDIS_URL') } : config.redis,
    telemetry: { ...config.telemetry, otlpEndpoint: otlpEndpoint(config, env) },
  };
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

/** The config file's JSON Schema (what `tokenrelay config schema` prints, committed as config.schema.json). */
export function configJsonSchema(): object {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
}
