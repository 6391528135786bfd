import { promises as dns } from 'node:dns';
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { type ChannelOptions, experimental, status } from '@grpc/grpc-js';
import type { LoadBalancing } from './channel';

/**
 * Where a client connects:
 * - one `'host:port'` (one connection, as grpc-js's default pick_first);
 * - several, as an array `['10.0.0.1:50051', '10.0.0.2:50051']` or a
 *   comma-separated string `'a:50051,b:50051'` (round_robin over them);
 * - a gRPC target URI: `'dns:///relay.internal:50051'` (round_robin over
 *   every address the name resolves to, e.g. a Kubernetes headless service),
 *   `'ipv4:10.0.0.1:1,10.0.0.2:2'`, `'ipv6:[::1]:1,[::1]:2'` (round_robin),
 *   or any other URI grpc-js knows (`'unix:/run/relay.sock'`), used as is.
 */
export type ClientAddresses = string | readonly string[];

/** The target handed to grpc-js and how the channel spreads calls over what it resolves to. */
export interface ChannelTarget {
  target: string;
  loadBalancing: LoadBalancing;
}

/** The scheme of the resolver for lists naming hosts; registered with grpc-js the first time such a list is used. */
export const HOST_LIST_SCHEME = 'tokenrelay-hosts';

/** Schemes whose targets may name several servers, so the SDK balances over them. */
const BALANCED_URI = /^(dns|ipv4|ipv6):/i;
/** `unix:` and anything written `scheme://…` (e.g. `xds:///`): one target grpc-js resolves itself. */
const OTHER_URI = /^(unix:|[a-z][a-z0-9+.-]*:\/\/)/i;

/**
 * Turns the addresses given to `createClient` into a grpc-js target, or
 * throws an Error naming the bad entry. One plain address is returned as
 * given, so a single-server client behaves exactly as before.
 */
export function channelTarget(addresses: ClientAddresses): ChannelTarget {
  if (typeof addresses === 'string') {
    const address = addresses.trim();
    if (address === '') {
      throw new Error('address: empty; give "host:port", several of them, or a URI such as "dns:///relay.internal:50051"');
    }
    if (BALANCED_URI.test(address)) return { target: checkUri(address), loadBalancing: 'round_robin' };
    if (OTHER_URI.test(address)) return { target: address, loadBalancing: 'pick_first' };
    return listTarget(address.split(','), address.includes(','));
  }
  if (!Array.isArray(addresses)) throw new Error(`addresses: expected a string or an array of strings, got ${typeof addresses}`);
  if (addresses.length === 0) throw new Error('addresses: empty list; give at least one "host:port"');
  return listTarget(addresses, true);
}

interface HostPort {
  host: string;
  port: number;
}

function listTarget(raw: readonly unknown[], isList: boolean): ChannelTarget {
  const entries = raw.map((entry, index) => checkEntry(entry, isList ? `addresses[${index}]` : 'address'));
  if (entries.length === 1) return { target: entries[0], loadBalancing: 'pick_first' };
  const hosts = entries.map((entry) => experimental.splitHostPort(entry)!.host);
  // grpc-js's own ipv4:/ipv6: schemes take a list of IP literals of one family.
  if (hosts.every((host) => isIPv4(host))) return { target: `ipv4:${entries.join(',')}`, loadBalancing: 'round_robin' };
  if (hosts.every((host) => isIPv6(host))) return { target: `ipv6:${entries.join(',')}`, loadBalancing: 'round_robin' };
  registerHostListResolver();
  return { target: `${HOST_LIST_SCHEME}:${entries.join(',')}`, loadBalancing: 'round_robin' };
}

/** A plain `host:port` entry, trimmed; the errors say which entry and what is wrong with it. */
function checkEntry(entry: unknown, name: string): string {
  if (typeof entry !== 'string') throw new Error(`${name}: expected a "host:port" string, got ${typeof entry}`);
  const address = entry.trim();
  if (address === '') throw new Error(`${name}: empty entry`);
  if (address.includes('/') || BALANCED_URI.test(address)) {
    throw new Error(`${name}: "${address}" is a URI or a path; a list takes "host:port" entries (give a URI alone)`);
  }
  const hostPort = experimental.splitHostPort(address);
  if (hostPort === null) throw new Error(`${name}: "${address}" is not "host:port" (an IPv6 address is written "[::1]:50051")`);
  if (hostPort.port === undefined) throw new Error(`${name}: "${address}" has no port`);
  if (hostPort.host === '') throw new Error(`${name}: "${address}" has no host`);
  if (hostPort.port < 1 || hostPort.port > 65_535) throw new Error(`${name}: "${address}" has port ${hostPort.port}, not 1-65535`);
  return address;
}

/**
 * Checks a dns:/ipv4:/ipv6: URI the way grpc-js will read it, so a mistake is
 * an error here rather than UNAVAILABLE on every call. The port stays
 * optional, as in gRPC's naming spec (grpc-js then uses 443).
 */
function checkUri(uri: string): string {
  const [, scheme, path] = /^([a-z0-9]+):(?:\/\/[^/]*\/)?(.*)$/i.exec(uri)!;
  const kind = scheme.toLowerCase();
  if (path === '') throw new Error(`address "${uri}": no host after "${scheme}:"`);
  if (kind === 'dns') {
    if (path.includes(',')) throw new Error(`address "${uri}": dns: takes one name; list several servers as "host:port" entries instead`);
    const hostPort = experimental.splitHostPort(path);
    if (hostPort === null || hostPort.host === '') throw new Error(`address "${uri}": "${path}" is not "host:port"`);
    return uri;
  }
  const [isFamily, what] = kind === 'ipv4' ? [isIPv4, 'an IPv4 address'] : [isIPv6, 'an IPv6 address (written "[::1]:50051")'];
  path.split(',').forEach((entry, index) => {
    const hostPort = experimental.splitHostPort(entry);
    if (hostPort === null || !isFamily(hostPort.host)) throw new Error(`address "${uri}": entry ${index} "${entry}" is not ${what}`);
  });
  return uri;
}

let hostListRegistered = false;

/** Registered on first use, so importing the SDK leaves grpc-js's resolvers untouched unless a list names hosts. */
function registerHostListResolver(): void {
  if (hostListRegistered) return;
  experimental.registerResolver(HOST_LIST_SCHEME, HostListResolver);
  hostListRegistered = true;
}

/**
 * After a lookup that found servers, look up again no sooner than this:
 * grpc-js's DNS resolver's default, and the same channel option overrides it
 * ('grpc.dns_min_time_between_resolutions_ms').
 */
const DEFAULT_MIN_RESOLVE_INTERVAL_MS = 30_000;
/** After a lookup that found nothing, retry soon (a DNS blip heals quickly), but not once per call. */
const RETRY_AFTER_FAILURE_MS = 1_000;

/**
 * Resolves `tokenrelay-hosts:a:1,b:2`: every entry is one server, looked up
 * with dns.lookup (the OS resolver, /etc/hosts included). All of an entry's
 * addresses form one endpoint, so within an entry grpc-js connects as it does
 * for a single address (the first that answers) and round_robin balances
 * over the entries. A name that stands for many servers is `dns:///name:port`.
 *
 * Re-resolution is rate-limited here, as grpc-js's DNS resolver does:
 * round_robin asks again whenever a connection drops and replaces its
 * children on every answer.
 */
class HostListResolver implements experimental.Resolver {
  private readonly entries: HostPort[];
  private readonly minIntervalMs: number;
  private lookingUp = false;
  private nextLookupAtMs = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Bumped by destroy(), so a lookup still in flight then is not reported. */
  private generation = 0;

  constructor(
    target: experimental.GrpcUri,
    private readonly listener: experimental.ResolverListener,
    options: ChannelOptions,
  ) {
    // channelTarget checked every entry; grpc-js passes the path back unchanged.
    this.entries = target.path.split(',').map((entry) => experimental.splitHostPort(entry) as HostPort);
    this.minIntervalMs = options['grpc.dns_min_time_between_resolutions_ms'] ?? DEFAULT_MIN_RESOLVE_INTERVAL_MS;
  }

  updateResolution(): void {
    if (this.lookingUp || this.timer) return;
    const waitMs = this.nextLookupAtMs - Date.now();
    if (waitMs <= 0) return void this.lookup();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.lookup();
    }, waitMs);
    this.timer.unref();
  }

  /** The channel went idle or closed: forget everything, so the next updateResolution looks up at once. */
  destroy(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.generation += 1;
    this.lookingUp = false;
    this.nextLookupAtMs = 0;
  }

  /** The first entry, as grpc-js's ipv4:/ipv6: resolvers do: the `:authority` and TLS name for every server. */
  static getDefaultAuthority(target: experimental.GrpcUri): string {
    return target.path.split(',')[0];
  }

  private async lookup(): Promise<void> {
    const generation = this.generation;
    this.lookingUp = true;
    const results = await Promise.allSettled(this.entries.map(lookupEntry));
    if (generation !== this.generation) return;
    this.lookingUp = false;
    const endpoints = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const unresolved = this.entries.filter((_, index) => results[index].status === 'rejected').map(hostPortString);
    const note = unresolved.length > 0 ? `could not resolve ${unresolved.join(', ')}` : '';
    this.nextLookupAtMs = Date.now() + (endpoints.length > 0 ? this.minIntervalMs : RETRY_AFTER_FAILURE_MS);
    // Entries that did not resolve are left out, like servers that are down; only none at all is an error.
    this.listener(
      endpoints.length > 0
        ? experimental.statusOrFromValue(endpoints)
        : experimental.statusOrFromError({ code: status.UNAVAILABLE, details: `Name resolution failed: ${note}` }),
      {},
      null,
      note,
    );
  }
}

function hostPortString({ host, port }: HostPort): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** One server: an IP literal as is, a name as every address dns.lookup finds for it. */
async function lookupEntry({ host, port }: HostPort): Promise<experimental.Endpoint> {
  if (isIP(host) !== 0) return { addresses: [{ host, port }] };
  const found = await dns.lookup(host, { all: true });
  if (found.length === 0) throw new Error(`${host}: no addresses`);
  return { addresses: found.map(({ address }) => ({ host: address, port })) };
}
