import type { ServerInterceptor } from '@grpc/grpc-js';
import { type CallInterceptorOptions, callInterceptor } from './call';

/**
 * The server's interceptors: one, which does every per-call step in order
 * (see call.ts), so each message passes one layer, not one per step.
 */
export function serverInterceptors(options: CallInterceptorOptions): ServerInterceptor[] {
  return [callInterceptor(options)];
}
