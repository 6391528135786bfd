import { type StreamFailure, notFound } from './streams/status';
import type { StreamView } from './streams/store';
import type { ServiceContext } from './context';
import { checkStreamId } from './validate';

/** A live or retained stream; INVALID_ARGUMENT for an id no stream can have, NOT_FOUND naming the field otherwise. */
export async function requireStream(context: ServiceContext, id: string, field = 'stream_id'): Promise<StreamView> {
  checkStreamId(id, field);
  const stream = await context.store.find(id);
  if (!stream) throw notFound(id, field);
  return stream;
}

/** Stops a stream wherever it is produced (a Cancel); INVALID_ARGUMENT for an id no stream can have. */
export async function stopStream(context: ServiceContext, id: string, failure: StreamFailure, field = 'stream_id'): Promise<boolean> {
  checkStreamId(id, field);
  return context.store.stop(id, failure);
}
