import { status as Status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DataServiceService } from '../../gen/tokenrelay/v1/data_service';
import type { Metrics } from '../../server/metrics';
import { type CallState, streamLogFields } from '../../core/callContext';

const CODE_NAMES = Object.fromEntries(
  Object.entries(Status)
    .filter(([, value]) => typeof value === 'number')
    .map(([name, value]) => [value, name]),
);

/** The methods served, by path: the only values the `method` label takes besides "other". */
const SERVED_PATHS: ReadonlySet<string> = new Set([
  ...Object.values(DataServiceService).map((method) => method.path),
  '/grpc.health.v1.Health/Check',
  '/grpc.health.v1.Health/Watch',
  '/grpc.health.v1.Health/List',
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
]);

/** A call's `method` label: its path if it is a method served, else "other", so no client can make new series. */
export function methodLabel(path: string): string {
  return SERVED_PATHS.has(path) ? path : 'other';
}

/** Tokens in a response message: a TokenChunk, or a DataResponse that carries one. */
function tokensIn(message: unknown): number {
  type Counted = { packed?: { count: number }; tokens?: unknown[] };
  const chunk = message as Counted & { chunk?: Counted };
  // A packed chunk is counted without decoding its tokens to strings.
  return chunk.packed?.count ?? chunk.tokens?.length ?? chunk.chunk?.packed?.count ?? chunk.chunk?.tokens?.length ?? 0;
}

/** What a call's log line and metrics are made from, gathered while it runs. */
export class CallLog {
  private readonly startedMs = performance.now();
  private messagesOut = 0;
  private tokensOut = 0;
  private logged = false;
  /** The call's context, once its metadata arrived (the principal is named in it later). */
  state: CallState | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly path: string,
    private readonly peer: () => string,
  ) {}

  /** A response message went out. */
  sent(message: unknown): void {
    this.messagesOut++;
    const tokens = tokensIn(message);
    if (tokens > 0) {
      this.tokensOut += tokens;
      this.metrics.tokensRelayed.inc(tokens);
    }
  }

  /** The client cancelled: the call ends without a status from us and is logged as CANCELLED. */
  cancelled(): void {
    const stream = this.state?.stream;
    if (stream && !stream.finish) stream.cancelledBy = 'client';
    this.finish(Status.CANCELLED, 'cancelled by the client');
  }

  /** One info line (error for INTERNAL and UNKNOWN) and the per-call metrics; once. */
  finish(code: number, details: string | undefined): void {
    if (this.logged) return;
    this.logged = true;
    const { metrics, state } = this;
    const durationMs = performance.now() - this.startedMs;
    const codeName = CODE_NAMES[code] ?? String(code);
    const methodName = methodLabel(this.path);
    metrics.calls.inc({ method: methodName, code: codeName });
    metrics.callSeconds.observe({ method: methodName }, durationMs / 1000);
    const principal = state?.principal?.name;
    if (principal !== undefined) {
      metrics.principalCalls.inc({ principal, code: codeName });
      if (this.tokensOut > 0) metrics.principalTokens.inc({ principal }, this.tokensOut);
    }
    const stream = state?.stream;
    const line = {
      requestId: state?.requestId ?? '',
      ...(principal !== undefined ? { principal } : {}),
      method: this.path,
      ...(stream ? streamLogFields(stream) : {}),
      peer: this.peer(),
      code: codeName,
      durationMs: Math.round(durationMs * 1000) / 1000,
      messagesOut: this.messagesOut,
      tokens: this.tokensOut,
      ...(code !== Status.OK && details ? { details } : {}),
    };
    if (code === Status.INTERNAL || code === Status.UNKNOWN) this.logger.error(line, 'call failed');
    else this.logger.info(line, 'call');
  }
}
