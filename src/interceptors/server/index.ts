import type { ServerInterceptor } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Metrics } from '../../server/metrics';
import { callLogInterceptor } from './callLog';
import { drainingInterceptor } from './draining';
import { requestIdInterceptor } from './requestId';

export interface ServerChainOptions {
  logger: Logger;
  metrics: Metrics;
  isDraining: () => boolean;
}

/**
 * The server interceptor chain, in order. grpc-js runs the first one
 * outermost: it sees the wire first on the way in and last on the way out.
 */
export function serverInterceptors(options: ServerChainOptions): ServerInterceptor[] {
  return [
    requestIdInterceptor, // settles x-request-id before anyone logs
    callLogInterceptor(options.logger, options.metrics), // one line and the metrics per call
    drainingInterceptor(options.isDraining), // UNAVAILABLE while shutting down
  ];
}
