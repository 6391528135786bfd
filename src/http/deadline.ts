import { deadlineFor } from '../core/config';
import { StatusCode, StreamFailure } from '../core/streams/status';
import type { StreamReader, StreamWriter } from '../core/streams/store';
import type { HttpContext } from './context';

/** A follow's deadline: whether it expired, and how to stop watching. */
export interface FollowDeadline {
  /** The DEADLINE_EXCEEDED failure once the deadline passed; undefined before. */
  expired(): StreamFailure | undefined;
  clear(): void;
}

/**
 * HTTP has no grpc-timeout, so an HTTP follow gets what a gRPC call that sets
 * no deadline gets: the method's default deadline from the config (Generate
 * for chat completions, Subscribe for event streams; default 10 minutes).
 * When it passes, a follow that started the stream stops the producer (the
 * stream fails, and the pump sends that); one that attached only stops
 * following (its reader closes, and expired() says why).
 */
export function armDeadline(
  context: HttpContext,
  method: 'Generate' | 'Subscribe',
  reader: StreamReader,
  owner?: StreamWriter,
): FollowDeadline {
  const deadlineMs = deadlineFor(context.config, method).defaultMs;
  let failure: StreamFailure | undefined;
  if (deadlineMs <= 0) return { expired: () => undefined, clear: () => undefined };
  const timer = setTimeout(() => {
    failure = new StreamFailure(
      StatusCode.DEADLINE_EXCEEDED,
      `deadline exceeded after ${deadlineMs} ms${owner ? '; the producer was stopped' : ''}`,
    );
    if (owner?.fail(failure)) return;
    reader.close();
  }, deadlineMs);
  timer.unref();
  return { expired: () => failure, clear: () => clearTimeout(timer) };
}

/**
 * The deadline a generation started over HTTP plans by (an upstream starts
 * no retry past it), as a gRPC call that sets none gets it: now plus the
 * method's default; Infinity for none.
 */
export function httpDeadlineMs(context: HttpContext, method: 'Generate' | 'Subscribe'): number {
  const defaultMs = deadlineFor(context.config, method).defaultMs;
  return defaultMs > 0 ? Date.now() + defaultMs : Infinity;
}
