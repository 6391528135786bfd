import type { Metadata, ServerInterceptingCallInterface } from '@grpc/grpc-js';
import { type Principal, type Principals, identify } from '../../core/principals';
import { StatusCode, StreamFailure } from '../../core/streams/status';
import { HEALTH_PREFIX, REFLECTION_PREFIX, underAny } from './standardServices';

export interface AuthOptions {
  /** Reflection needs a principal too. */
  protectReflection?: boolean;
  /** Client certificates are verified on every connection (mTLS required), so their CN may name a principal. */
  certificates?: boolean;
}

/**
 * Auth: the call must be a principal, by `authorization: Bearer <token>` or,
 * under required mTLS, by its client certificate's CN; the principal goes in
 * the call's context for the handlers (stream ownership) and the log line.
 * Every failure gets the same UNAUTHENTICATED message, so a caller learns
 * nothing about which part was wrong. With auth off there is no gate.
 */
export class AuthGate {
  /** Health stays open for probes; reflection too (so grpcurl `list` works without a token) unless protected. */
  private readonly open: string[];

  constructor(
    private readonly principals: Principals,
    private readonly options: AuthOptions = {},
  ) {
    this.open = options.protectReflection ? [HEALTH_PREFIX] : [HEALTH_PREFIX, REFLECTION_PREFIX];
  }

  /** Whether calls to this method need a principal. */
  guards(path: string): boolean {
    return !underAny(path, this.open);
  }

  /** The call's principal, or undefined when it has none. */
  principalOf(metadata: Metadata, call: ServerInterceptingCallInterface): Principal | undefined {
    const certificateName = this.options.certificates ? call.getAuthContext().sslPeerCertificate?.subject?.CN : undefined;
    return identify(this.principals, metadata.get('authorization')[0], certificateName);
  }
}

/** What a call without a principal gets. */
export const UNAUTHENTICATED = () => new StreamFailure(StatusCode.UNAUTHENTICATED, 'missing or invalid bearer token');
