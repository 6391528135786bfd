/**
 * The standard services served beside DataService, by method path prefix:
 * health (for probes) and reflection (for grpcurl). Draining and auth both
 * leave some of them open.
 */
export const HEALTH_PREFIX = '/grpc.health.v1.Health/';
export const REFLECTION_PREFIX = '/grpc.reflection.';

/** Whether a method path starts with one of the prefixes. */
export function underAny(path: string, prefixes: readonly string[]): boolean {
  return prefixes.some((prefix) => path.startsWith(prefix));
}
