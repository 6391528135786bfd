import { randomUUID } from 'node:crypto';
import type { Span } from '@opentelemetry/api';
import type { Principal } from './principals';
import type { CancelSource } from './streams/status';
import type { StreamEnd, StreamInfo } from './streams/store';

/** What a call's log line says of the stream it served, as the handler learns it. */
export interface CallStream {
  id: string;
  model: string;
  /** How the stream ended, if the call saw its end: stop, length, cancelled, error. */
  finish?: string;
  /** For a cancelled stream: who cancelled it. */
  cancelledBy?: CancelSource;
}

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
  /** The stream the call served, for its log line. */
  stream?: CallStream;
}

/** A call's stream on its log line: id, model, and how it ended (and who cancelled it) when the call saw that. */
export function streamLogFields(stream: CallStream): Record<string, string> {
  return {
    streamId: stream.id,
    model: stream.model,
    ...(stream.finish ? { finish: stream.finish } : {}),
    ...(stream.cancelledBy ? { cancelledBy: stream.cancelledBy } : {}),
  };
}

/** Why a call's signal aborts: the call ended (however it ended). One object for every call. */
const CALL_ENDED = Object.freeze({ name: 'CallEnded', message: 'the call ended' });

/** A call context that the edge fills in and ends. */
export class CallState implements CallContext {
  deadlineMs = Infinity;
  principal: Principal | undefined;
  span: Span | undefined;
  stream: CallStream | undefined;
  /** Made when a handler first asks for the signal: most calls never do, and an abort costs an event per call. */
  private controller: AbortController | undefined;
  private ended = false;

  constructor(readonly requestId: string = randomUUID()) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.ended) this.controller.abort(CALL_ENDED);
    }
    return this.controller.signal;
  }

  /** The call serves this stream (its log line names it). */
  noteStream(stream: Pick<StreamInfo, 'id' | 'model'>): void {
    this.stream = { id: stream.id, model: stream.model };
  }

  /** The stream ended, as the call saw it: its finish reason and, for a cancel, who cancelled. */
  noteEnd(end: StreamEnd | undefined): void {
    if (!end || !this.stream) return;
    this.stream.finish = end.reason;
    const cancelledBy = end.failure?.details.cancelledBy;
    if (cancelledBy) this.stream.cancelledBy = cancelledBy;
  }

  /** The call is over. Idempotent. */
  end(): void {
    this.ended = true;
    // With a reason made once: abort() without one builds a DOMException, stack and all, on every call.
    this.controller?.abort(CALL_ENDED);
  }
}
