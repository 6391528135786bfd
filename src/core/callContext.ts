import { randomUUID } from 'node:crypto';
import type { Span } from '@opentelemetry/api';
import type { Principal } from './principals';

/**
 * What a handler knows of the call it serves, whichever edge it came in by:
 * filled by the gRPC interceptors (src/grpc/interceptors) or by the HTTP
 * edge (src/http/api.ts), read by the handlers and passed down to the
 * generation. Per-call state lives here, never in the call's metadata.
 */
export interface CallContext {
  /** The request id: the client's x-request-id, a traceparent's trace id, or a fresh one. Echoed to the client. */
  readonly requestId: string;
  /** When the call must end, in ms since the epoch, the server's default and maximum applied; Infinity for none. */
  deadlineMs: number;
  /** Aborted when the call ends, however it ends (the client left, the deadline passed, the server answered). */
  readonly signal: AbortSignal;
  /** Who the caller is; undefined with auth off (every stream is everyone's). */
  principal?: Principal;
  /** The call's trace span, with tracing on: the parent of the generation it starts. */
  span?: Span;
}

/** A call context that the edge fills in and ends. */
export class CallState implements CallContext {
  deadlineMs = Infinity;
  principal: Principal | undefined;
  span: Span | undefined;
  private readonly controller = new AbortController();

  constructor(readonly requestId: string = randomUUID()) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The call is over. Idempotent. */
  end(): void {
    this.controller.abort();
  }
}
