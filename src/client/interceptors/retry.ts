import { type Interceptor, InterceptingCall, type Metadata, type StatusObject, status as Status } from '@grpc/grpc-js';
import { neverConnected } from '../errors';
import { type BackoffOptions, RetryBudget } from '../../common/backoff';

/**
 * Retries idempotent unary calls (ListModels, Cancel: asking twice is
 * harmless) that failed with UNAVAILABLE, with full-jitter backoff, within
 * the call's deadline and the attempt bound. Other methods pass through:
 * streams are resumed by the SDK from their last sequence number instead.
 */
export function retryInterceptor(
  methods: readonly string[],
  backoff: BackoffOptions = {},
  reached: () => boolean = () => true,
): Interceptor {
  return (options, nextCall) => {
    const method = options.method_definition.path.split('/').pop() ?? '';
    if (!methods.includes(method) || options.method_definition.requestStream || options.method_definition.responseStream) {
      return new InterceptingCall(nextCall(options));
    }
    let savedMetadata: Metadata;
    let savedRequest: unknown;
    return new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        savedMetadata = metadata;
        let response: unknown;
        let deliver: ((message: unknown) => void) | undefined;
        const deadline = options.deadline instanceof Date ? options.deadline.getTime() : options.deadline;
        const budget = new RetryBudget(backoff, deadline);
        const finish = (status: StatusObject, nextStatus: (status: StatusObject) => void) => {
          if (deliver && response !== undefined) deliver(response);
          nextStatus(status);
        };
        /** Retries the call after the budget's wait, or ends it with the status when it is not worth retrying. */
        const retryOrFinish = (status: StatusObject, nextStatus: (status: StatusObject) => void) => {
          // A client that has never reached a server does not retry not reaching one (see TokenRelayClient.firstContact).
          const retryable = status.code === Status.UNAVAILABLE && (reached() || !neverConnected(status));
          const delayMs = retryable ? budget.next() : undefined;
          if (delayMs === undefined) return finish(status, nextStatus);
          setTimeout(() => {
            let call: ReturnType<typeof nextCall>;
            try {
              call = nextCall(options);
            } catch (error) {
              // The channel was closed while we waited: report the last failure.
              return finish({ code: Status.UNAVAILABLE, details: String(error), metadata: savedMetadata }, nextStatus);
            }
            call.start(savedMetadata, {
              onReceiveMessage: (message: unknown) => (response = message),
              onReceiveStatus: (status: StatusObject) => retryOrFinish(status, nextStatus),
            });
            call.sendMessage(savedRequest);
            call.halfClose();
          }, delayMs);
        };
        next(metadata, {
          onReceiveMessage(message, nextMessage) {
            response = message;
            deliver = nextMessage;
          },
          onReceiveStatus(status, nextStatus) {
            retryOrFinish(status, nextStatus);
          },
        });
      },
      sendMessage(message, next) {
        savedRequest = message;
        next(message);
      },
    });
  };
}
