import { type Metadata, status as Status } from '@grpc/grpc-js';
import type { CallState } from '../../core/callContext';
import type { Span } from '@opentelemetry/api';
import type { Tracing } from '../../core/tracing';

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
export class CallSpan {
  private span: Span | undefined;
  private ended = false;

  constructor(
    private readonly tracing: Tracing,
    private readonly path: string,
  ) {}

  /** Starts the span from the call's metadata and puts it in the call's context. */
  start(metadata: Metadata, state: CallState): void {
    const header = (name: string) => {
      const value = metadata.get(name)[0];
      return typeof value === 'string' ? value : undefined;
    };
    const [service, rpc] = this.path.slice(1).split('/');
    this.span = this.tracing.startCall(this.path.slice(1), { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': rpc }, header);
    state.span = this.span;
  }

  end(code: number, details: string | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.tracing.endCall(this.span, { 'rpc.grpc.status_code': code }, SERVER_ERRORS.has(code), details);
  }
}
