import { status as Status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { internalErrorMessage } from '../core/streams/status';
import { callContextOf } from './interceptors/context';

type AnyCall = { metadata: import('@grpc/grpc-js').Metadata; emit(event: 'error', error: unknown): boolean };
type AnyHandler = (call: AnyCall, callback?: (error: unknown) => void) => unknown;

/**
 * A handler that throws or rejects is our bug: the stack is logged with the
 * request id, and the caller gets INTERNAL with a safe message. The process
 * never crashes on it.
 */
export function guardHandler<Handler>(name: string, handler: Handler, logger: Logger): Handler {
  const inner = handler as unknown as AnyHandler;
  const guarded: AnyHandler = (call, callback) => {
    const fail = (error: unknown) => {
      const { requestId } = callContextOf(call.metadata);
      logger.error({ err: error, requestId, method: name }, 'handler threw');
      const status = { code: Status.INTERNAL, details: internalErrorMessage(requestId) };
      if (callback) callback(status);
      else call.emit('error', status);
    };
    try {
      const result = inner(call, callback);
      if (result instanceof Promise) result.catch(fail);
    } catch (error) {
      fail(error);
    }
  };
  return guarded as unknown as Handler;
}
