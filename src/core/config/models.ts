import { z } from 'zod/v4';
import { duration, integer, section } from './fields';

/** The backends a model entry may name. */
export const BACKENDS = ['echo', 'sim', 'openai', 'ollama'] as const;

const MODEL_NAME = /^[A-Za-z0-9._:/-]{1,128}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const name = z
  .string({ error: (issue) => `must be 1 to 128 characters from [A-Za-z0-9._:/-], got ${JSON.stringify(issue.input)}` })
  .regex(MODEL_NAME, { error: (issue) => `must be 1 to 128 characters from [A-Za-z0-9._:/-], got ${JSON.stringify(issue.input)}` })
  .describe('The name clients put in GenerateRequest.model.');

function embedded(backend: 'echo' | 'sim', ttftMs: number, interTokenMs: number, description: string) {
  return z
    .strictObject(
      {
        name,
        backend: z.literal(backend),
        ttftMs: duration('Time to first token.', ttftMs),
        interTokenMs: duration('Time between tokens.', interTokenMs),
      },
      {
        error: (issue) =>
          issue.code === 'unrecognized_keys' ? 'unknown field (expected one of name, backend, ttftMs, interTokenMs)' : 'must be an object',
      },
    )
    .describe(description);
}

/** The upstream's URL: http(s), no credentials (they would end up in logs), no query or fragment; a trailing slash is dropped. */
function baseUrl(example: string) {
  return z
    .string({
      error: (issue) =>
        issue.input === undefined ? `missing; the upstream's http(s) URL, e.g. "${example}"` : `must be a string URL, e.g. "${example}"`,
    })
    .check((context) => {
      const raw = context.value;
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        context.issues.push({ code: 'custom', input: raw, message: `not a valid URL: ${JSON.stringify(raw)} (e.g. "${example}")` });
        return;
      }
      // Not repeated: the URL carries a secret.
      if (url.username || url.password) {
        context.issues.push({
          code: 'custom',
          input: raw,
          message: 'must not carry credentials; name an environment variable in apiKeyEnv',
        });
      } else if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        context.issues.push({
          code: 'custom',
          input: raw,
          message: `must be an http or https URL, got ${JSON.stringify(raw)} (e.g. "${example}")`,
        });
      } else if (url.search || url.hash) {
        context.issues.push({ code: 'custom', input: raw, message: `must not have a query or fragment, got ${JSON.stringify(raw)}` });
      }
    })
    .transform((raw) => new URL(raw).href.replace(/\/+$/, ''))
    .describe(`http(s) URL the API path is appended to, e.g. "${example}". No credentials, query or fragment.`);
}

/** The name of the variable that holds the key: it must be set now, so the process does not start half-configured. */
const apiKeyEnv = z
  .string({ error: () => 'must be the name of an environment variable (letters, digits and _), not the key itself' })
  .regex(ENV_NAME, { error: () => 'must be the name of an environment variable (letters, digits and _), not the key itself' })
  .refine((variable) => Boolean(process.env[variable]), { error: (issue) => `environment variable ${issue.input} is unset or empty` })
  .optional()
  .describe(
    'Name of the environment variable holding the API key, sent as `Authorization: Bearer`. Read at startup; never logged. Default: no key.',
  );

const headers = z
  .record(z.string(), z.unknown(), { error: () => 'must be an object of header names to string values' })
  .check((context) => {
    for (const [header, value] of Object.entries(context.value)) {
      if (!HEADER_NAME.test(header)) {
        context.issues.push({ code: 'custom', input: header, message: `${JSON.stringify(header)} is not a valid header name` });
      } else if (typeof value !== 'string' || /[\r\n\0]/.test(value)) {
        context.issues.push({ code: 'custom', input: value, path: [header], message: 'must be a string without line breaks' });
      }
    }
  })
  .transform((value) => value as Record<string, string>)
  .default({})
  .describe('Extra request headers. Default none.');

function upstream(backend: 'openai' | 'ollama', example: string, description: string) {
  return z
    .strictObject(
      {
        name,
        backend: z.literal(backend),
        baseUrl: baseUrl(example),
        model: z
          .string({ error: () => "must be the upstream's model id, a non-empty string" })
          .min(1, { error: () => "must be the upstream's model id, a non-empty string" })
          .optional()
          .describe("The upstream's model id. Default: the entry's name."),
        apiKeyEnv,
        headers,
        timeouts: section('Time limits on each request to the upstream.', {
          connectMs: duration('TCP (and TLS) connect.', 10_000, 1),
          headersMs: duration('From sending the request to the response headers.', 300_000, 1),
          idleMs: duration(
            'Longest silence on the response body (between tokens); then the request is aborted and, after tokens, the stream ends with UNAVAILABLE.',
            60_000,
            1,
          ),
        }),
        retry: section('Retry before the first token: full-jitter exponential backoff, honouring Retry-After.', {
          maxAttempts: integer('Most attempts, the first included; 1 turns retry off.', 3, 1, 100),
          baseMs: duration("Upper bound of the first retry's wait; it doubles each retry.", 250),
          capMs: duration('Upper bound of any jittered wait.', 5000),
          maxRetryAfterMs: duration('Longest Retry-After honoured; an upstream asking for longer is not retried.', 30_000),
        }),
        maxConcurrent: integer('Most requests in flight to this upstream.', 64, 1, 100_000),
        maxQueue: integer('Most requests waiting for one of those; past that RESOURCE_EXHAUSTED.', 256, 0, 1_000_000),
      },
      {
        error: (issue) =>
          issue.code === 'unrecognized_keys'
            ? 'unknown field (expected one of name, backend, baseUrl, model, apiKeyEnv, headers, timeouts, retry, maxConcurrent, maxQueue)'
            : 'must be an object',
      },
    )
    .check((context) => {
      const entry = context.value;
      const authorization = Object.keys(entry.headers).find((header) => header.toLowerCase() === 'authorization');
      if (entry.apiKeyEnv !== undefined && authorization) {
        context.issues.push({
          code: 'custom',
          input: authorization,
          path: ['headers', authorization],
          message: 'apiKeyEnv already sets Authorization; set one or the other',
        });
      }
    })
    .describe(description);
}

/** One configured model: embedded (echo, sim) or served by an upstream (openai, ollama), told apart by `backend`. */
export const modelSchema = z
  .discriminatedUnion(
    'backend',
    [
      embedded('echo', 0, 0, 'echo: streams the prompt back token by token.'),
      embedded('sim', 100, 10, 'sim: deterministic English-like text from the seed, at a configurable pace.'),
      upstream(
        'openai',
        'http://localhost:8000/v1',
        'An OpenAI-compatible chat-completions server (vLLM, llama.cpp, TGI, LM Studio, OpenAI): POST {baseUrl}/chat/completions.',
      ),
      upstream('ollama', 'http://localhost:11434', "Ollama's native API: POST {baseUrl}/api/chat."),
    ],
    {
      error: (issue) => {
        const backend = (issue.input as { backend?: unknown } | undefined)?.backend;
        return issue.code === 'invalid_union'
          ? `unknown backend ${JSON.stringify(backend)} (expected one of ${BACKENDS.join(', ')})`
          : 'must be an object';
      },
    },
  )
  // An upstream's model id defaults to the entry's name.
  .transform((entry) => ('baseUrl' in entry ? { ...entry, model: entry.model ?? entry.name } : entry));

export type ModelConfig = z.output<typeof modelSchema>;
export type EmbeddedModelConfig = Extract<ModelConfig, { backend: 'echo' | 'sim' }>;
export type UpstreamModelConfig = Extract<ModelConfig, { backend: 'openai' | 'ollama' }>;
export type UpstreamTimeoutsConfig = UpstreamModelConfig['timeouts'];
export type UpstreamRetryConfig = UpstreamModelConfig['retry'];
