import { StatusCode, StreamFailure } from './streams/status';
import type { StreamEnd, StreamObserver, StreamWriter } from './streams/store';

/** `limits.perPrincipal`: 0 turns a limit off. */
export interface PerPrincipalLimits {
  /** Most live streams one principal's calls may have started on this process at once. */
  maxConcurrentStreams: number;
  /** Completion tokens generated per minute for one principal on this process (a token bucket). */
  tokensPerMinute: number;
}

/** A principal's share: its live streams and its token bucket. */
interface Account {
  live: number;
  /** Tokens left in the bucket; below zero after generations that took more than was left (they are never cut). */
  balance: number;
  /** When the balance was last refilled (performance.now()). */
  refilledAtMs: number;
}

/** Why a call was refused, for the metric's `limit` label. */
export type PrincipalLimit = 'streams' | 'tokens';

/** One admitted stream's hold on its principal's share, until the stream ends. */
export interface Admission {
  /** Binds the hold to the stream created for it: released, and its unused tokens refunded, when the stream ends or moves. */
  bind(writer: StreamWriter): void;
  /** Gives the hold back: the stream was never created. */
  release(): void;
}

const NO_HOLD: Admission = { bind: () => undefined, release: () => undefined };

/**
 * Per-principal fairness on this process: at most `maxConcurrentStreams`
 * live streams per principal, and a token bucket of `tokensPerMinute`
 * completion tokens, refilled continuously, as providers meter their own
 * APIs. A generation is admitted while the bucket is not empty and takes
 * its max_tokens from it at once; when it ends, what it did not use goes
 * back. A running generation is never cut short; the bucket may go below
 * zero, and the principal's next call waits until it is above zero again.
 * Refusals are RESOURCE_EXHAUSTED with a reason and how long to wait.
 *
 * Calls without a principal (auth off) are not limited. The counts are this
 * process's: with N replicas (or workers) a principal may hold N times them.
 */
export class PrincipalLimiter implements StreamObserver {
  private readonly accounts = new Map<string, Account>();
  /** Each bound stream's release, given the completion tokens it used. */
  private readonly holds = new WeakMap<StreamWriter, (used: number) => void>();

  constructor(
    private readonly limits: PerPrincipalLimits,
    private readonly onRefused: (principal: string, limit: PrincipalLimit) => void = () => undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get enabled(): boolean {
    return this.limits.maxConcurrentStreams > 0 || this.limits.tokensPerMinute > 0;
  }

  /**
   * Admits a new stream for the principal, taking `reserveTokens` from its
   * bucket (a generation's max_tokens; 0 for a published stream, whose
   * tokens no model generates); RESOURCE_EXHAUSTED when it is over a limit.
   */
  admit(principal: string | undefined, reserveTokens: number): Admission {
    if (principal === undefined || !this.enabled) return NO_HOLD;
    const account = this.account(principal);
    const { maxConcurrentStreams, tokensPerMinute } = this.limits;
    if (maxConcurrentStreams > 0 && account.live >= maxConcurrentStreams) {
      this.onRefused(principal, 'streams');
      throw new StreamFailure(
        StatusCode.RESOURCE_EXHAUSTED,
        `principal "${principal}" has ${account.live} live streams, the limit of limits.perPrincipal.maxConcurrentStreams`,
        { reason: 'TOO_MANY_STREAMS' },
      );
    }
    const reserved = tokensPerMinute > 0 && reserveTokens > 0 ? reserveTokens : 0;
    if (reserved > 0) {
      this.refill(account);
      if (account.balance < 1) {
        this.onRefused(principal, 'tokens');
        const waitMs = Math.ceil(((1 - account.balance) * 60_000) / tokensPerMinute);
        throw new StreamFailure(
          StatusCode.RESOURCE_EXHAUSTED,
          `principal "${principal}" has used its limits.perPrincipal.tokensPerMinute (${tokensPerMinute}); retry in ${waitMs} ms`,
          { reason: 'RATE_LIMITED', retryAfterMs: waitMs },
        );
      }
      account.balance -= reserved;
    }
    account.live += 1;
    let held = true;
    const release = (used: number) => {
      if (!held) return;
      held = false;
      account.live -= 1;
      if (reserved > used) {
        this.refill(account);
        account.balance = Math.min(tokensPerMinute, account.balance + reserved - used);
      }
    };
    return {
      bind: (writer) => this.holds.set(writer, release),
      release: () => release(0),
    };
  }

  /** A stream ended: its hold goes back, with the tokens it did not use (by the model's own count). */
  ended(stream: StreamWriter, end: StreamEnd): void {
    this.settle(stream, end.usage.completionTokens);
  }

  /** Another replica took the stream over: the hold here goes back, with the tokens not yet appended. */
  released(stream: StreamWriter): void {
    this.settle(stream, stream.nextSeq);
  }

  private settle(stream: StreamWriter, used: number): void {
    const release = this.holds.get(stream);
    if (!release) return;
    this.holds.delete(stream);
    release(used);
  }

  private account(principal: string): Account {
    let account = this.accounts.get(principal);
    if (!account) {
      account = { live: 0, balance: this.limits.tokensPerMinute, refilledAtMs: this.now() };
      this.accounts.set(principal, account);
    }
    return account;
  }

  private refill(account: Account): void {
    const now = this.now();
    const { tokensPerMinute } = this.limits;
    account.balance = Math.min(tokensPerMinute, account.balance + ((now - account.refilledAtMs) * tokensPerMinute) / 60_000);
    account.refilledAtMs = now;
  }
}
