import type { ServerInterceptor } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Config } from '../../core/config';
import type { Metrics } from '../../server/metrics';
import { authInterceptor } from './auth';
import { callLogInterceptor } from './callLog';
import { deadlineInterceptor } from './deadline';
import { drainingInterceptor } from './draining';
import { errorsInterceptor } from './errors';
import { requestIdInterceptor } from './requestId';
import { tracingInterceptor } from './tracing';
import type { Tracing } from '../../core/tracing';
import type { Principals } from '../../core/principals';

export interface ServerChainOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  isDraining: () => boolean;
  /** Who may call; none configured turns auth off. */
  principals: Principals;
  /** Traces; absent or off, no span is made. */
  tracing?: Tracing;
}

/**
 * The server interceptor chain. The wire is at the top: the first entry sees
 * each incoming call first and each outgoing status last; the handler sits
 * below the last entry.
 */
export function serverInterceptors(options: ServerChainOptions): ServerInterceptor[] {
  const chain: Array<ServerInterceptor | false> = [
    requestIdInterceptor, // settles x-request-id before anyone logs
    callLogInterceptor(options.logger, options.metrics), // one line and the metrics per call, whatever ended it
    options.tracing?.enabled === true && tracingInterceptor(options.tracing), // a span per call, child of the caller's traceparent
    errorsInterceptor(options.logger), // a handler's crash goes out as INTERNAL, never UNKNOWN
    drainingInterceptor(options.isDraining), // UNAVAILABLE while shutting down
    options.principals.enabled &&
      authInterceptor(options.principals, {
        protectReflection: options.config.auth.protectReflection,
        certificates: options.config.tls?.requireClientCert,
      }), // UNAUTHENTICATED without a valid bearer token
    deadlineInterceptor(options.config), // default and maximum deadline, handed to the handler
  ];
  return chain.filter((interceptor): interceptor is ServerInterceptor => interceptor !== false);
}
