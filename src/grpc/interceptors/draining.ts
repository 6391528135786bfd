import { StatusCode, StreamFailure } from '../../core/streams/status';

/** Served while draining: health, so probes see NOT_SERVING, and reflection, so grpcurl still knows the service and shows the UNAVAILABLE. */
const OPEN_WHILE_DRAINING = ['/grpc.health.v1.Health/', '/grpc.reflection.'];

/**
 * While the server drains for shutdown, new calls get UNAVAILABLE at once so
 * clients go to another replica. Health and reflection stay open.
 */
export function refusedWhileDraining(path: string): boolean {
  return !OPEN_WHILE_DRAINING.some((prefix) => path.startsWith(prefix));
}

export const SERVER_DRAINING = () =>
  new StreamFailure(StatusCode.UNAVAILABLE, 'the server is shutting down; retry on another replica', { reason: 'SERVER_DRAINING' });
