import type { Deadline } from '@grpc/grpc-js';
import { type Config, deadlineFor } from '../../core/config';
import { StatusCode, StreamFailure } from '../../core/streams/status';

const SERVICE_PREFIX = '/tokenrelay.v1.DataService/';
/** The handler stops its producer at the deadline; this backstop only catches a handler that did not. */
const BACKSTOP_MS = 250;

function toEpochMs(deadline: Deadline): number {
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

/**
 * A default deadline for calls that set none and a maximum that clamps
 * longer ones, per method (config `deadlines`). The effective deadline goes
 * to the handler in the call's context, so the handler can stop the producer
 * with DEADLINE_EXCEEDED; grpc-js enforces the client's own deadline, and
 * the call interceptor enforces a shorter one: `backstopMs` after now, it
 * ends a call its handler did not end.
 */
export function callDeadline(
  config: Config,
  path: string,
  clientDeadline: Deadline,
): { deadlineMs: number; backstopMs: number | undefined } | undefined {
  if (!path.startsWith(SERVICE_PREFIX)) return undefined;
  const bounds = deadlineFor(config, path.slice(SERVICE_PREFIX.length));
  const now = Date.now();
  const client = toEpochMs(clientDeadline);
  let effective = client;
  if (effective === Infinity && bounds.defaultMs > 0) effective = now + bounds.defaultMs;
  if (bounds.maxMs > 0) effective = Math.min(effective, now + bounds.maxMs);
  if (effective === Infinity) return undefined;
  return { deadlineMs: effective, backstopMs: effective < client ? Math.max(0, effective - now) + BACKSTOP_MS : undefined };
}

/** What the backstop sends. */
export const DEADLINE_EXCEEDED = () => new StreamFailure(StatusCode.DEADLINE_EXCEEDED, 'deadline exceeded');
