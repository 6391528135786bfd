import { z } from 'zod/v4';
import { MAX_TIMER_MS, duration, flag, integer, oneOf, section, wholeNumber } from './fields';
import { modelSchema } from './models';

/** The DataService methods a deadline bound may name ("*" is every other). */
export const METHODS = ['ListModels', 'Generate', 'Subscribe', 'Publish', 'StreamData', 'Cancel'] as const;

const KEY_PREFIX = /^[A-Za-z0-9._:-]{1,64}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const limitsSchema = section('Request limits; past one is INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for capacity).', {
  maxConcurrentStreams: integer('Most streams this process produces at once.', 10_000, 1, 1_000_000),
  maxTokens: integer('Largest max_tokens a request may ask for.', 4096, 1, 10_000_000),
  defaultMaxTokens: integer('max_tokens when a request sets none; at most maxTokens.', 256, 1, 10_000_000),
  maxPromptBytes: integer('Most UTF-8 bytes of prompt plus message contents.', 65_536, 1, 1_073_741_824),
  maxMessageBytes: integer('Largest gRPC message (and HTTP body) the server receives, in bytes.', 4_194_304, 1024, 1_073_741_824),
  maxPublishTokens: integer(
    'Most tokens one published stream may hold; past it Publish is RESOURCE_EXHAUSTED.',
    2_097_152,
    1,
    1_000_000_000,
  ),
  maxStreamBytes: integer(
    'Most UTF-8 bytes of token text one published stream may hold; past it Publish is RESOURCE_EXHAUSTED and the tokens already accepted stay readable.',
    67_108_864,
    1024,
    17_179_869_184,
  ),
  maxStreamsPerConnection: integer(
    'Most calls one HTTP/2 connection may have open at once, sent to clients as SETTINGS_MAX_CONCURRENT_STREAMS (a client queues its calls past it), so one connection cannot take every stream.',
    1000,
    1,
    1_000_000,
  ),
  maxConnections: integer(
    'Most open connections on each port; a connection past it is closed at once and counted in tokenrelay_connections_refused_total.',
    10_000,
    1,
    1_000_000,
  ),
  perPrincipal: section(
    'Limits on each authenticated principal, on this process (with auth off there are no principals to limit). Past one is RESOURCE_EXHAUSTED with a RetryInfo (HTTP 429 with Retry-After).',
    {
      maxConcurrentStreams: integer(
        'Most live streams one principal may have started (Generate, Publish, a session start, a chat completion); 0 for no limit.',
        0,
        0,
        1_000_000,
      ),
      tokensPerMinute: integer(
        'Completion tokens per minute for one principal, a token bucket: a generation takes its max_tokens when it starts and gets back what it did not use when it ends; 0 for no limit.',
        0,
        0,
        1_000_000_000_000,
      ),
    },
  ),
});

/** Where streams live. */
export const storeSchema = oneOf(
  '"memory" (this process only) or "redis" (shared by every replica; see redis). Env TOKENRELAY_STORE.',
  ['memory', 'redis'],
  'memory',
);

export const streamsSchema = section("The stream log's bounds, and where it lives.", {
  windowTokens: integer('Tokens a producer may run ahead of its slowest live consumer before it waits.', 1024, 1, 1_048_576),
  retentionMs: duration('How long a finished stream stays readable.', 300_000),
  maxRetainedStreams: integer('Most finished streams kept (over every replica on the redis store).', 1000, 0, 10_000_000),
  maxRetainedBytes: integer(
    'Most UTF-8 bytes of token text over all finished streams kept (over every replica on the redis store); past it the oldest finished streams are dropped first. 0 keeps none.',
    536_870_912,
    0,
    1_099_511_627_776,
  ),
  resumeGraceMs: duration(
    'How long an abandoned resumable stream keeps producing, and a resumable publisher may take to come back.',
    30_000,
  ),
  maxChunkTokens: integer('Most tokens coalesced into one chunk for a consumer that fell behind.', 512, 1, 1_048_576),
  maxChunkBytes: integer('Most bytes (about) coalesced into one chunk.', 65_536, 1, 16_777_216),
  halfCloseSettleMs: duration(
    'How long a Publish half-close waits for a cancel that may follow it before it ends the stream normally.',
    50,
    0,
    60_000,
  ),
  heartbeatMs: duration('A consumer with no token sent for this long gets a heartbeat chunk.', 15_000, 10),
  store: storeSchema,
});

const deadlineSchema = z
  .strictObject(
    {
      defaultMs: wholeNumber(0, MAX_TIMER_MS).optional().describe('Deadline of a call that sets none, in ms; 0 for none.'),
      maxMs: wholeNumber(0, MAX_TIMER_MS)
        .optional()
        .describe('Longest deadline a call may have (longer ones are clamped to it), in ms; 0 for none.'),
    },
    { error: (issue) => (issue.code === 'unrecognized_keys' ? 'unknown field (expected one of defaultMs, maxMs)' : 'must be an object') },
  )
  .describe('A deadline bound: the default and the maximum, in ms; 0 means none.');

export const deadlinesSchema = z
  .strictObject(
    Object.fromEntries(['*', ...METHODS].map((method) => [method, deadlineSchema.optional()])) as Record<
      '*' | (typeof METHODS)[number],
      z.ZodOptional<typeof deadlineSchema>
    >,
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown field (expected one of *, ${METHODS.join(', ')})`
          : 'must be an object keyed by method name or "*"',
    },
  )
  .prefault({})
  .describe(
    'Deadline bounds by DataService method; "*" for the methods not named. Defaults: "*" 600000/3600000, ListModels and Cancel 10000/60000, Publish 3600000/none, StreamData none.',
  );

export const timeoutsSchema = section("Limits on a generation's pace: the defaults and maxima of ttft_timeout_ms and idle_timeout_ms.", {
  ttftMs: duration('Time to first token when a request sets no ttft_timeout_ms.', 60_000, 1),
  maxTtftMs: duration('The largest ttft_timeout_ms a request may set.', 600_000, 1),
  idleMs: duration('Most time between tokens when a request sets no idle_timeout_ms.', 60_000, 1),
  maxIdleMs: duration('The largest idle_timeout_ms a request may set.', 600_000, 1),
});

export const keepaliveSchema = section('HTTP/2 keepalive pings from the server to its clients.', {
  timeMs: duration('Ping a client after this long without a ping.', 60_000, 10),
  timeoutMs: duration('Close the connection if the ping is not answered within this.', 20_000, 10),
});

/** Bearer tokens: strings of at least 16 characters. */
function tokenList(description: string) {
  return z
    .array(z.string({ error: () => 'must be a string of at least 16 characters' }), {
      error: () => 'must be an array of strings of at least 16 characters',
    })
    .check((context) => {
      if (context.value.some((token) => token.length < 16)) {
        context.issues.push({ code: 'custom', input: context.value, message: 'must be an array of strings of at least 16 characters' });
      }
    })
    .default([])
    .describe(description);
}

function envName(description: string) {
  return z
    .string({ error: () => 'must be the name of an environment variable' })
    .regex(ENV_NAME, { error: () => 'must be the name of an environment variable' })
    .optional()
    .describe(description);
}

const PRINCIPAL_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export const principalSchema = z.strictObject(
  {
    name: z
      .string({ error: (issue) => `must be 1 to 64 characters from [A-Za-z0-9._-], got ${JSON.stringify(issue.input)}` })
      .regex(PRINCIPAL_NAME, { error: (issue) => `must be 1 to 64 characters from [A-Za-z0-9._-], got ${JSON.stringify(issue.input)}` })
      .describe("The principal: on its calls' log lines and metrics, and the subject CN of its client certificate under mTLS."),
    tokens: tokenList('Its bearer tokens. Default none (a client certificate only, under mTLS).'),
    tokensEnv: envName('An environment variable holding more of its tokens, comma-separated. Default none.'),
    streams: oneOf('Which streams it may read, cancel and reopen: "own" (those it created) or "all".', ['own', 'all'], 'own'),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? 'unknown field (expected one of name, tokens, tokensEnv, streams)' : 'must be an object',
  },
);

export const authSchema = section('Optional auth; with no tokens and no principals configured every call is allowed.', {
  tokens: tokenList(
    'Accepted tokens, at least 16 characters each, of the principal "default" (which may use every stream). Prefer tokensEnv: a config file is easy to leak. Default none.',
  ),
  tokensEnv: envName('Name of an environment variable holding more tokens of "default", comma-separated. Default none.'),
  principals: z
    .array(principalSchema, { error: () => 'must be an array of principals' })
    .default([])
    .describe('Callers who own their streams: another principal gets NOT_FOUND for them. Default none.'),
  protectMetrics: flag('Put /metrics behind the same bearer tokens (Prometheus then sends one: authorization.credentials).', false),
  protectReflection: flag('Put gRPC reflection behind the same bearer tokens (grpcurl then needs -H "authorization: Bearer ...").', false),
});

/** A redis:// or rediss:// URL with a host. The message never repeats the URL, which may carry a password. */
export const redisUrlSchema = z
  .string({ error: () => 'must be a string URL, e.g. "redis://127.0.0.1:6379" or "rediss://user:password@redis.internal:6380/0"' })
  .check((context) => {
    const example = 'e.g. "redis://127.0.0.1:6379" or "rediss://user:password@redis.internal:6380/0"';
    let url: URL;
    try {
      url = new URL(context.value);
    } catch {
      context.issues.push({ code: 'custom', input: '(not repeated)', message: `not a valid URL (${example})` });
      return;
    }
    const problem =
      url.protocol !== 'redis:' && url.protocol !== 'rediss:'
        ? `must start with redis:// or rediss://, got ${JSON.stringify(url.protocol.replace(/:$/, ''))} (${example})`
        : !url.hostname
          ? `has no host (${example})`
          : url.pathname && !/^\/?(\d+)?$/.test(url.pathname)
            ? `the path must be a database number, ${example}`
            : undefined;
    if (problem) context.issues.push({ code: 'custom', input: '(not repeated)', message: problem });
  });

export const redisSchema = section(
  'The redis store: Redis (or Redis Cluster) shared by every replica. Used when streams.store is "redis".',
  {
    url: redisUrlSchema
      .default('redis://127.0.0.1:6379')
      .describe(
        'redis:// or rediss:// URL (a password in it is never logged); with cluster, any node of the cluster. Env TOKENRELAY_REDIS_URL. Default "redis://127.0.0.1:6379".',
      ),
    cluster: flag('Talk to a Redis Cluster.', false),
    keyPrefix: z
      .string({ error: (issue) => `must be 1 to 64 characters from [A-Za-z0-9._:-], got ${JSON.stringify(issue.input)}` })
      .regex(KEY_PREFIX, { error: (issue) => `must be 1 to 64 characters from [A-Za-z0-9._:-], got ${JSON.stringify(issue.input)}` })
      .default('tokenrelay')
      .describe('Prefix of every key, so several deployments can share one Redis. Default "tokenrelay".'),
    leaseMs: duration(
      "A producing replica's lease on a stream, renewed every third of it; a dead producer is noticed within this plus a third.",
      10_000,
      1000,
      300_000,
    ),
    connectTimeoutMs: duration('Most time to connect.', 5000, 100, 60_000),
    commandTimeoutMs: duration('Most time a Redis command may take before the stream it serves fails with UNAVAILABLE.', 5000, 10, 60_000),
  },
);

/** A PEM file's path. */
function pemFile(description: string) {
  return z
    .string({ error: () => 'must be a file path' })
    .min(1, { error: () => 'must be a file path' })
    .describe(description);
}

export const tlsSchema = z
  .strictObject(
    {
      certFile: pemFile('PEM certificate chain the server presents on both ports. Re-read on SIGHUP.'),
      keyFile: pemFile('PEM private key of certFile (never logged). Re-read on SIGHUP.'),
      clientCaFile: pemFile(
        'PEM CA certificates that sign client certificates: set, the server asks every client for one (mTLS). Re-read on SIGHUP. Default none.',
      ).optional(),
      requireClientCert: z
        .boolean({ error: () => 'must be true or false' })
        .optional()
        .describe(
          'Refuse a connection whose client certificate is missing or not signed by clientCaFile. Default true when clientCaFile is set (false: a certificate is optional, and one that does not verify is ignored).',
        ),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? 'unknown field (expected one of certFile, keyFile, clientCaFile, requireClientCert)'
          : 'must be an object',
    },
  )
  .optional()
  .describe('TLS on both ports (gRPC and HTTP); absent, both are plaintext. Flags --tls-cert, --tls-key, --tls-client-ca.');

/** An http:// or https:// URL with a host. The message never repeats the URL, which may carry credentials. */
export const httpUrlSchema = z
  .string({ error: () => 'must be a string URL, e.g. "http://otel-collector:4318/v1/traces"' })
  .check((context) => {
    let url: URL | undefined;
    try {
      url = new URL(context.value);
    } catch {
      url = undefined;
    }
    const problem = !url
      ? 'not a valid URL (e.g. "http://otel-collector:4318/v1/traces")'
      : url.protocol !== 'http:' && url.protocol !== 'https:'
        ? `must start with http:// or https://, got ${JSON.stringify(url.protocol.replace(/:$/, ''))}`
        : !url.hostname
          ? 'has no host'
          : undefined;
    if (problem) context.issues.push({ code: 'custom', input: '(not repeated)', message: problem });
  });

export const telemetrySchema = section(
  'OpenTelemetry traces, sent by OTLP/HTTP. Off unless an endpoint is set here or by OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT (the environment wins; OTEL_SDK_DISABLED=true turns them off). The other standard variables apply: OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, OTEL_BSP_*.',
  {
    otlpEndpoint: httpUrlSchema
      .optional()
      .describe(
        'The OTLP/HTTP traces URL, e.g. "http://otel-collector:4318/v1/traces". Absent: no traces (unless the environment names one).',
      ),
  },
);

export const cacheSchema = section(
  "A cache of finished deterministic generations (a fixed seed or temperature 0): an identical request within ttlMs is answered from the first one's stream, at full speed. Off by default. On the redis store the entries are shared by every replica.",
  {
    ttlMs: duration(
      'How long a result answers identical requests, at most streams.retentionMs in effect; 0 turns the cache off.',
      0,
      0,
      86_400_000,
    ),
    maxEntries: integer('Most results kept by this process on the memory store (on redis the TTL bounds them).', 1000, 1, 1_000_000),
  },
);

/** The config file, every field optional; parsing fills in the defaults (see config/index.ts for the rules across fields). */
export const configSchema = z
  .strictObject(
    {
      models: z
        .array(modelSchema, { error: () => 'must be a non-empty array' })
        .min(1, { error: () => 'must be a non-empty array' })
        .optional()
        .describe('The models, by name. Default: "sim" (a paced simulator) and "echo".'),
      defaultModel: z
        .string({ error: (issue) => `${JSON.stringify(issue.input)} is not one of the configured models` })
        .optional()
        .describe('The model used when a request names none. Default "sim" if configured, else the first model.'),
      limits: limitsSchema,
      streams: streamsSchema,
      shutdownGraceMs: duration('How long streams in flight may run after SIGTERM before they end with UNAVAILABLE.', 10_000),
      deadlines: deadlinesSchema,
      timeouts: timeoutsSchema,
      auth: authSchema,
      keepalive: keepaliveSchema,
      redis: redisSchema,
      tls: tlsSchema,
      telemetry: telemetrySchema,
      cache: cacheSchema,
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? 'unknown field (expected one of models, defaultModel, limits, streams, shutdownGraceMs, deadlines, timeouts, auth, keepalive, redis, tls, telemetry, cache)'
          : 'must be a JSON object',
    },
  )
  .describe('tokenrelay serve --config FILE');

export { MAX_TIMER_MS };
