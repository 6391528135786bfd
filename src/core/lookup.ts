import { type StreamFailure, notFound } from './streams/status';
import type { StreamView } from './streams/store';
import type { ServiceContext } from './context';
import { type Principal, mayAccess } from './principals';
import { checkStreamId } from './validate';

/**
 * A live or retained stream the caller may see; INVALID_ARGUMENT for an id
 * no stream can have, NOT_FOUND naming the field otherwise (another
 * principal's stream is NOT_FOUND too, with the same message).
 */
export async function requireStream(
  context: ServiceContext,
  id: string,
  principal: Principal | undefined,
  field = 'stream_id',
): Promise<StreamView> {
  checkStreamId(id, field);
  const stream = await context.store.find(id);
  if (!stream || !mayAccess(principal, stream.owner)) throw notFound(id, field);
  return stream;
}

/**
 * Stops a stream wherever it is produced (a Cancel): false when it had
 * already ended; NOT_FOUND for an unknown stream or another principal's;
 * INVALID_ARGUMENT for an id no stream can have.
 */
export async function stopStream(
  context: ServiceContext,
  id: string,
  failure: StreamFailure,
  principal: Principal | undefined,
  field = 'stream_id',
): Promise<boolean> {
  checkStreamId(id, field);
  if (principal && principal.streams !== 'all') {
    const stream = await context.store.find(id);
    if (!stream || !mayAccess(principal, stream.owner)) throw notFound(id, field);
  }
  return context.store.stop(id, failure);
}
