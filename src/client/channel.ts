import { type ChannelCredentials, type ChannelOptions, credentials } from '@grpc/grpc-js';

/** PEM contents (not paths): a string or the bytes of a file. */
export type Pem = string | Buffer;

/**
 * TLS to the server: `true` trusts the system's roots; otherwise `ca` is the
 * roots to trust instead (default the system's), and `cert` with `key` is a
 * client certificate, for a server that asks for one (mTLS).
 */
export type ClientTls = true | { ca?: Pem; cert?: Pem; key?: Pem };

const bytes = (pem: Pem | undefined) => (pem === undefined ? null : Buffer.isBuffer(pem) ? pem : Buffer.from(pem));

/** The channel credentials for `tls`: plaintext without it. A certificate without its key (or the reverse) throws naming the option. */
export function channelCredentials(tls: ClientTls | undefined): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  if (tls === true) return credentials.createSsl();
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new Error(`tls.${tls.cert === undefined ? 'cert' : 'key'}: a client certificate needs both cert and key`);
  }
  return credentials.createSsl(bytes(tls.ca), bytes(tls.key), bytes(tls.cert));
}

/** HTTP/2 pings from the client after this much silence on a connection with calls. */
export const CLIENT_KEEPALIVE_TIME_MS = 60_000;
export const CLIENT_KEEPALIVE_TIMEOUT_MS = 20_000;

/**
 * How a channel spreads calls over the addresses its target resolves to:
 * `pick_first` (grpc-js's default) uses one connection, `round_robin` keeps
 * one to every address and takes them in turn, skipping those that are down.
 */
export type LoadBalancing = 'pick_first' | 'round_robin';

/** The service config that selects round_robin (gRPC's JSON service config, as the 'grpc.service_config' channel option). */
export const ROUND_ROBIN_SERVICE_CONFIG = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/**
 * Channel options for talking to tokenrelay.
 *
 * - Keepalive: a ping after 60 s of silence while calls are open (never
 *   without calls), dropped after 20 s unanswered. gRPC servers in other
 *   languages refuse pings more often than every 5 minutes *without data*;
 *   tokenrelay's heartbeats (data, every 15 s) keep a stream from ever being
 *   without data, and grpc-js servers enforce no ping policy.
 * - Retries: the SDK retries and resumes itself (with full-jitter backoff and
 *   from the last sequence number), so grpc-js's transparent retries are off
 *   and its per-call retry buffer small: the default 256 KiB buffer makes a
 *   burst client stream quadratic.
 * - Load balancing: `round_robin` sets the service config that selects it;
 *   `pick_first` (the default) sets none, leaving grpc-js's default. A
 *   'grpc.service_config' in `extra` wins, like every other option there.
 */
export function channelOptions(extra: ChannelOptions = {}, loadBalancing: LoadBalancing = 'pick_first'): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': CLIENT_KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': CLIENT_KEEPALIVE_TIMEOUT_MS,
    'grpc.keepalive_permit_without_calls': 0,
    'grpc.enable_retries': 0,
    'grpc.per_rpc_retry_buffer_size': 16 * 1024,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 5000,
    ...(loadBalancing === 'round_robin' ? { 'grpc.service_config': ROUND_ROBIN_SERVICE_CONFIG } : {}),
    ...extra,
  };
}
