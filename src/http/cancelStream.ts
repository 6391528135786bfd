import { StatusCode, StreamFailure } from '../core/streams/status';
import { stopStream } from '../core/lookup';
import type { HttpContext, HttpHandler } from './context';
import { sendJson } from './errors';

/**
 * DELETE /v1/streams/{stream_id}: cancels the stream as the Cancel RPC does,
 * aborting its producer wherever it runs. 200 {id, object, cancelled}, where
 * cancelled is false when the stream had already ended; 404 for an unknown
 * stream.
 */
export function cancelStream(context: HttpContext): HttpHandler {
  return async (call) => {
    const id = call.params[0];
    call.streamId = id;
    const cancelled = await stopStream(
      context,
      id,
      new StreamFailure(StatusCode.CANCELLED, `stream ${id} was cancelled by DELETE /v1/streams/${id}`, {
        reason: 'STREAM_CANCELLED',
        cancelledBy: 'delete',
      }),
      call.context.principal,
    );
    sendJson(call.response, 200, { id, object: 'stream', cancelled });
  };
}
