import type { ChannelOptions } from '@grpc/grpc-js';

/** HTTP/2 pings from the client after this much silence on a connection with calls. */
export const CLIENT_KEEPALIVE_TIME_MS = 60_000;
export const CLIENT_KEEPALIVE_TIMEOUT_MS = 20_000;

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
 */
export function channelOptions(extra: ChannelOptions = {}): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': CLIENT_KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': CLIENT_KEEPALIVE_TIMEOUT_MS,
    'grpc.keepalive_permit_without_calls': 0,
    'grpc.enable_retries': 0,
    'grpc.per_rpc_retry_buffer_size': 16 * 1024,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 5000,
    ...extra,
  };
}
