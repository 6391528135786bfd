import type { Logger } from 'pino';
import type { ModelCatalog } from './models/catalog';
import type { Config } from './config';
import type { StreamStore } from './streams/store';
import type { PrincipalLimiter } from './principalLimits';
import type { Tracing } from './tracing';
import type { ResponseCache } from './cache';
import type { LiveStreams } from './liveStreams';

/** What every handler needs: the stream store, the models, the config, a logger. */
export interface ServiceContext {
  readonly config: Config;
  readonly store: StreamStore;
  readonly models: ModelCatalog;
  readonly logger: Logger;
  /** limits.perPrincipal: admits each new stream for its principal. */
  readonly principalLimiter: PrincipalLimiter;
  /** Traces, or none: spans for the generations started here. */
  readonly tracing: Tracing;
  /** Finished deterministic generations, to answer identical requests with (config `cache`; off by default). */
  readonly cache: ResponseCache;
  /** What this process is streaming now, for the live streams page. */
  readonly live: LiveStreams;
  /**
   * Aborted when the server starts draining. On a shared store, a consumer
   * following a resumable stream is then sent UNAVAILABLE at once, so it
   * resumes on another replica while this one goes on producing.
   */
  readonly draining: AbortSignal;
}
