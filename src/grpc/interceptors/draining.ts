import { StatusCode, StreamFailure } from '../../core/streams/status';
import { HEALTH_PREFIX, REFLECTION_PREFIX, underAny } from './standardServices';

/** Served while draining: health, so probes see NOT_SERVING, and reflection, so grpcurl still knows the service and shows the UNAVAILABLE. */
const OPEN_WHILE_DRAINING = [HEALTH_PREFIX, REFLECTION_PREFIX];

/**
 * While the server drains for shutdown, new calls get UNAVAILABLE at once so
 * clients go to another replica. Health and reflection stay open.
 */
export function refusedWhileDraining(path: string): boolean {
  return !underAny(path, OPEN_WHILE_DRAINING);
}

export const SERVER_DRAINING = () =>
  new StreamFailure(StatusCode.UNAVAILABLE, 'the server is shutting down; retry on another replica', { reason: 'SERVER_DRAINING' });
