import { type Interceptor, InterceptingCall } from '@grpc/grpc-js';

/** Default deadlines by method name, in ms; a call that sets its own deadline keeps it. */
export type DeadlineDefaults = Record<string, number>;

export const DEFAULT_CLIENT_DEADLINES: DeadlineDefaults = {
  ListModels: 10_000,
  Cancel: 10_000,
  Generate: 600_000,
  Subscribe: 600_000,
};

/** Gives every call of a listed method a deadline if it has none. */
export function deadlineInterceptor(defaults: DeadlineDefaults): Interceptor {
  return (options, nextCall) => {
    const method = options.method_definition.path.split('/').pop() ?? '';
    const defaultMs = defaults[method];
    if (options.deadline === undefined && defaultMs !== undefined && defaultMs > 0) {
      options.deadline = Date.now() + defaultMs;
    }
    return new InterceptingCall(nextCall(options));
  };
}
