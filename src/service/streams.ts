import { notFound } from '../streams/status';
import type { StreamView } from '../streams/store';
import type { ServiceContext } from './context';

/** A live or retained stream; NOT_FOUND naming the field otherwise. */
export async function requireStream(context: ServiceContext, id: string, field = 'stream_id'): Promise<StreamView> {
  const stream = await context.store.find(id);
  if (!stream) throw notFound(id, field);
  return stream;
}
