import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Metrics } from '../server/metrics';
import type { CallState } from '../core/callContext';
import type { ServiceContext } from '../core/context';

/** What the HTTP handlers need: what the gRPC handlers have, and the metrics they count tokens in. */
export interface HttpContext extends ServiceContext {
  readonly metrics: Metrics;
}

/** One HTTP request as a handler sees it. */
export interface HttpCall {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  /** The path's captured parts (a stream id), decoded. */
  params: string[];
  /** The call's context, as a gRPC call has one: its request id (the client's x-request-id, or a fresh one; echoed in the response), its deadline once a handler sets it, a signal aborted when the response closes. */
  context: CallState;
  /** Set by a handler for the request log line. */
  streamId?: string;
}

export type HttpHandler = (call: HttpCall) => Promise<void> | void;

/** The response header that names the stream, so a client can resume it or cancel it. */
export const STREAM_ID_HEADER = 'x-tokenrelay-stream-id';

/** Set to `hit` on a response answered from the response cache. */
export const CACHE_HEADER = 'x-tokenrelay-cache';
