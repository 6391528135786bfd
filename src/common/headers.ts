/**
 * Metadata keys that are part of tokenrelay's wire contract, shared by the
 * server and the SDK (and documented in the proto for other languages). This
 * module imports nothing, so the SDK can use it without loading server code.
 */

/** Response header of every Publish: the seq the producer should send next (where a resumed producer continues). */
export const NEXT_SEQ_HEADER = 'tokenrelay-next-seq';

/**
 * Trailer on a status that is the stream's own end (it failed, was
 * cancelled, its producer was lost), as opposed to the call's (a lost
 * connection, a draining replica): resuming such a stream gives the same
 * status again, so a client should not retry it.
 */
export const STREAM_ENDED_TRAILER = 'tokenrelay-stream-ended';

/** Request and response header with the call's request id (the server's logs name every call by it). */
export const REQUEST_ID_KEY = 'x-request-id';
