/** The models every bench server has. */
export const BENCH_MODELS = [
  // Unpaced: as fast as the relay takes tokens.
  { name: 'fast', backend: 'sim', ttftMs: 0, interTokenMs: 0 },
  // First token at once, then one every 2 s: an open, flowing, mostly idle stream.
  { name: 'idle', backend: 'sim', ttftMs: 0, interTokenMs: 2000 },
  // First token at once, then one every 5 ms: a generation whose first token goes out before its end is known.
  { name: 'paced', backend: 'sim', ttftMs: 0, interTokenMs: 5 },
];

/**
 * tokenrelay's config for the bench: the defaults (stream window, coalescing
 * bounds, retention, interceptors, info-level call log) except limits raised
 * for long and many streams, no call deadlines, and a short shutdown.
 */
export interface RelayOverrides {
  limits?: object;
  streams?: object;
  /** The redis store's settings, with streams: { store: 'redis' }. */
  redis?: object;
  /** Traces (telemetry.otlpEndpoint); absent, off as by default. */
  telemetry?: object;
}

export function relayConfig(overrides: RelayOverrides = {}): object {
  return {
    models: BENCH_MODELS,
    defaultModel: 'fast',
    limits: {
      maxTokens: 2_000_000,
      maxConcurrentStreams: 50_000,
      // (i) puts thousands of streams on one connection.
      maxStreamsPerConnection: 50_000,
      maxPublishTokens: 4_000_000,
      ...overrides.limits,
    },
    streams: { ...overrides.streams },
    deadlines: { '*': { defaultMs: 0, maxMs: 0 } },
    shutdownGraceMs: 1000,
    ...(overrides.redis ? { redis: overrides.redis } : {}),
    ...(overrides.telemetry ? { telemetry: overrides.telemetry } : {}),
  };
}
