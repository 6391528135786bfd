import { StatusCode, StreamFailure } from './streams/status';
import type { StreamReader } from './streams/store';
import type { ServiceContext } from './context';

/**
 * On a shared store, when the replica starts draining: a follower of a
 * stream that survives its consumers leaving (resumable, or published) is
 * told UNAVAILABLE so it resumes on another replica, and its reader closes
 * (the stream goes on, produced here until shutdownGraceMs). A follower of a
 * stream that would be cancelled by its leaving stays to the end. Returns
 * what stops watching.
 */
export function leaveWhenDraining(context: ServiceContext, reader: StreamReader, leave: (failure: StreamFailure) => void): () => void {
  if (!context.store.shared || reader.stream.abandonPolicy === 'cancel') return () => undefined;
  const onDrain = () => {
    if (reader.isClosed || reader.atEnd) return;
    leave(
      new StreamFailure(StatusCode.UNAVAILABLE, 'the server is shutting down; resume this stream on another replica', {
        reason: 'SERVER_DRAINING',
      }),
    );
    reader.close();
  };
  if (context.draining.aborted) {
    onDrain();
    return () => undefined;
  }
  context.draining.addEventListener('abort', onDrain, { once: true });
  return () => context.draining.removeEventListener('abort', onDrain);
}
