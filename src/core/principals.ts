import { createHash, timingSafeEqual } from 'node:crypto';
import { type AuthConfig, ConfigError } from './config';

/** Who a call is: a principal from the config. Its name is on the call's log line and metrics. */
export interface Principal {
  readonly name: string;
  /** "own": only the streams it created; "all": every stream (a worker that publishes or cancels for others). */
  readonly streams: 'own' | 'all';
}

/** The principal the plain `auth.tokens` / `auth.tokensEnv` list stands for. */
export const DEFAULT_PRINCIPAL = 'default';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The tokens of `auth` or of one principal (`section`): its `tokens` and those its `tokensEnv` variable holds. */
function tokensFrom(given: readonly string[], variable: string | undefined, section: string, env: NodeJS.ProcessEnv): string[] {
  const fromEnv = variable ? (env[variable] ?? '') : '';
  const tokens = [...given, ...fromEnv.split(',').map((token) => token.trim())].filter(Boolean);
  if (variable && tokens.length === given.length) {
    throw new ConfigError(`${section}.tokensEnv: environment variable ${variable} is unset or empty`);
  }
  const short = tokens.find((token) => token.length < 16);
  if (short !== undefined) {
    throw new ConfigError(`${section}.${variable ? 'tokensEnv' : 'tokens'}: every token must be at least 16 characters`);
  }
  return tokens;
}

/**
 * The configured principals and how a call proves to be one: a bearer token
 * (compared as SHA-256 digests in constant time against every token, so
 * timing tells nothing about which token or how much of it matched), or,
 * where client certificates are required, a certificate whose subject CN is
 * the principal's name. With none configured, auth is off and every call is
 * anonymous, with access to every stream.
 */
export class Principals {
  private constructor(
    private readonly byToken: ReadonlyArray<{ digest: Buffer; principal: Principal }>,
    private readonly byName: ReadonlyMap<string, Principal>,
  ) {}

  /** From `auth`: the principals, plus `default` ("all") for the plain token list. Tokens from the environment are read now. */
  static fromConfig(auth: AuthConfig, env: NodeJS.ProcessEnv = process.env): Principals {
    const entries: Array<{ digest: Buffer; principal: Principal }> = [];
    const byName = new Map<string, Principal>();
    const seen = new Map<string, string>();
    const add = (principal: Principal, tokens: string[], field: string) => {
      byName.set(principal.name, principal);
      for (const token of tokens) {
        const key = digest(token).toString('hex');
        const other = seen.get(key);
        if (other !== undefined && other !== principal.name) {
          throw new ConfigError(`${field}: a token of principal "${principal.name}" is also one of "${other}"`);
        }
        seen.set(key, principal.name);
        entries.push({ digest: digest(token), principal });
      }
    };
    const plain = tokensFrom(auth.tokens, auth.tokensEnv, 'auth', env);
    if (plain.length > 0) add({ name: DEFAULT_PRINCIPAL, streams: 'all' }, plain, 'auth.tokens');
    for (const [index, entry] of auth.principals.entries()) {
      const field = `auth.principals[${index}]`;
      if (byName.has(entry.name)) throw new ConfigError(`${field}.name: duplicate principal name ${JSON.stringify(entry.name)}`);
      add({ name: entry.name, streams: entry.streams }, tokensFrom(entry.tokens, entry.tokensEnv, field, env), field);
    }
    return new Principals(entries, byName);
  }

  /** Whether calls must authenticate. */
  get enabled(): boolean {
    return this.byName.size > 0;
  }

  /** The principals' names (never their tokens), for the startup line. */
  get names(): string[] {
    return [...this.byName.keys()];
  }

  /** The principal whose token an `authorization: Bearer <token>` header carries, if any. */
  byBearer(header: unknown): Principal | undefined {
    if (typeof header !== 'string') return undefined;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return undefined;
    const given = digest(match[1]);
    let found: Principal | undefined;
    for (const entry of this.byToken) if (timingSafeEqual(entry.digest, given)) found = entry.principal;
    return found;
  }

  /** The principal named by a verified client certificate's subject CN, if any. */
  byCertificateName(commonName: unknown): Principal | undefined {
    return typeof commonName === 'string' ? this.byName.get(commonName) : undefined;
  }
}

/**
 * Who a call is: the principal of its bearer token when it sends an
 * `authorization` header (a wrong token is no one, even with a good
 * certificate: an explicit credential that fails is a failure), else the
 * principal its verified client certificate names. Undefined: refuse it.
 */
export function identify(principals: Principals, authorization: unknown, certificateName: unknown): Principal | undefined {
  if (authorization !== undefined && authorization !== '') return principals.byBearer(authorization);
  return principals.byCertificateName(certificateName);
}

/**
 * Whether a caller may see a stream: with auth off (no principal), or as a
 * principal with "all", always; otherwise only a stream it created. A stream
 * it may not see is NOT_FOUND, exactly like an id that does not exist.
 */
export function mayAccess(principal: Principal | undefined, owner: string | undefined): boolean {
  return principal === undefined || principal.streams === 'all' || owner === principal.name;
}
