import { randomUUID } from 'node:crypto';
import { REQUEST_ID_KEY } from '../common/headers';

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;
const CLIENT_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Reads one request header by its lower-case name: a string, or anything
 * else (absent, repeated, binary) that is never trusted.
 */
export type HeaderReader = (name: string) => unknown;

/**
 * The call's request id: the client's `x-request-id` if it is printable
 * ASCII without spaces and at most 128 characters, else the trace id of a
 * valid W3C `traceparent`, else a fresh UUID. Anything else a client sends
 * (a tab, a byte above 0x7e, a malformed traceparent) is ignored, never an
 * error: tracing headers must never break a call, and the id chosen is always
 * safe to echo in a header and to write in a log line.
 */
export function requestIdFrom(header: HeaderReader): string {
  const given = header(REQUEST_ID_KEY);
  if (typeof given === 'string' && CLIENT_REQUEST_ID.test(given)) return given;
  const traceparent = header('traceparent');
  if (typeof traceparent === 'string') {
    const match = TRACEPARENT.exec(traceparent.trim().toLowerCase());
    if (match && !/^0+$/.test(match[1])) return match[1];
  }
  return randomUUID();
}
