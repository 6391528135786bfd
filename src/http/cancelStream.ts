import { StatusCode, StreamFailure } from '../streams/status';
import type { HttpContext, HttpHandler } from './context';
import { sendJson } from './errors';

/**
 * DELETE /v1/streams/{stream_id}: cancels the stream as the Cancel RPC does,
 * aborting its producer. 200 {id, object, cancelled}, where cancelled is false
 * when the stream had already ended; 404 for an unknown stream.
 */
export function cancelStream(context: HttpContext): HttpHandler {
  return (call) => {
    const stream = context.registry.require(call.params[0]);
    call.streamId = stream.id;
    const cancelled = stream.fail(new StreamFailure(StatusCode.CANCELLED, `stream ${stream.id} was cancelled by DELETE /v1/streams/${stream.id}`));
    sendJson(call.response, 200, { id: stream.id, object: 'stream', cancelled });
  };
}
