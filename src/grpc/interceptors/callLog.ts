import { type ServerInterceptor, ServerInterceptingCall, status as Status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DataServiceService } from '../../gen/tokenrelay/v1/data_service';
import type { Metrics } from '../../server/metrics';
import { callContextOf } from './context';
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

/**
 * One info line per call when it ends (method, peer, request id, status,
 * duration, messages and tokens sent), and the per-call metrics. A call the
 * client cancelled ends without a status from us: it is logged as CANCELLED.
 */
export function callLogInterceptor(logger: Logger, metrics: Metrics): ServerInterceptor {
  return (method, call) => {
    const startedMs = performance.now();
    let state: CallState | undefined;
    let messagesOut = 0;
    let tokensOut = 0;
    let logged = false;
    const finish = (code: number, details: string | undefined) => {
      if (logged) return;
      logged = true;
      const durationMs = performance.now() - startedMs;
      const codeName = CODE_NAMES[code] ?? String(code);
      const methodName = methodLabel(method.path);
      metrics.calls.inc({ method: methodName, code: codeName });
      metrics.callSeconds.observe({ method: methodName }, durationMs / 1000);
      const principal = state?.principal?.name;
      if (principal !== undefined) {
        metrics.principalCalls.inc({ principal, code: codeName });
        if (tokensOut > 0) metrics.principalTokens.inc({ principal }, tokensOut);
      }
      const stream = state?.stream;
      const line = {
        requestId: state?.requestId ?? '',
        ...(principal !== undefined ? { principal } : {}),
        method: method.path,
        ...(stream ? streamLogFields(stream) : {}),
        peer: call.getPeer(),
        code: codeName,
        durationMs: Math.round(durationMs * 1000) / 1000,
        messagesOut,
        tokens: tokensOut,
        ...(code !== Status.OK && details ? { details } : {}),
      };
      if (code === Status.INTERNAL || code === Status.UNKNOWN) logger.error(line, 'call failed');
      else logger.info(line, 'call');
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            // The auth interceptor, further down, names the principal in this same state.
            state = callContextOf(metadata);
            nextMetadata(metadata);
          },
          onCancel() {
            if (state?.stream && !state.stream.finish) state.stream.cancelledBy = 'client';
            finish(Status.CANCELLED, 'cancelled by the client');
          },
        });
      },
      sendMessage(message, next) {
        messagesOut++;
        const tokens = tokensIn(message);
        if (tokens > 0) {
          tokensOut += tokens;
          metrics.tokensRelayed.inc(tokens);
        }
        next(message);
      },
      sendStatus(status, next) {
        // The status goes to the wire first; the bookkeeping is off the caller's path.
        next(status);
        finish(status.code ?? Status.UNKNOWN, status.details);
      },
    });
  };
}
