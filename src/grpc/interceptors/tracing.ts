import { type ServerInterceptor, ServerInterceptingCall, status as Status } from '@grpc/grpc-js';
import type { Span } from '@opentelemetry/api';
import type { Tracing } from '../../core/tracing';
import { callContextOf } from './context';

/** Codes that say the server failed the call (OpenTelemetry's rule for gRPC servers); the rest are the caller's. */
const SERVER_ERRORS = new Set([
  Status.UNKNOWN,
  Status.DEADLINE_EXCEEDED,
  Status.UNIMPLEMENTED,
  Status.INTERNAL,
  Status.UNAVAILABLE,
  Status.DATA_LOSS,
]);

/**
 * A SERVER span per call (with tracing on), the child of the `traceparent`
 * the caller sent, named and attributed as OpenTelemetry's RPC conventions
 * say; the generation the call starts is its child. It ends with the
 * status, or CANCELLED when the client cancelled.
 */
export function tracingInterceptor(tracing: Tracing): ServerInterceptor {
  return (method, call) => {
    let span: Span | undefined;
    let ended = false;
    const end = (code: number, details: string | undefined) => {
      if (ended) return;
      ended = true;
      tracing.endCall(span, { 'rpc.grpc.status_code': code }, SERVER_ERRORS.has(code), details);
    };
    const [service, rpc] = method.path.slice(1).split('/');
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const header = (name: string) => {
              const value = metadata.get(name)[0];
              return typeof value === 'string' ? value : undefined;
            };
            span = tracing.startCall(method.path.slice(1), { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': rpc }, header);
            callContextOf(metadata).span = span;
            nextMetadata(metadata);
          },
          onCancel() {
            end(Status.CANCELLED, 'cancelled by the client');
          },
        });
      },
      sendStatus(status, next) {
        next(status);
        end(status.code ?? Status.UNKNOWN, status.details);
      },
    });
  };
}
