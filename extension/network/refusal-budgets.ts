import { TokenBucket } from '../common/token-bucket';

/** How much refused input a paired peer may send before its session is cut and the peer kept away. */
export interface RefusalBudgetConfig {
  /** Refusals a peer may cause at once. Covers an honest peer's worst case: a whole in-flight window refused or deferred. */
  burst: number;
  /** Refusals per second a peer may cause, sustained. */
  perSecond: number;
  /** How long a peer is kept away after its first offence; each further one doubles it. */
  backoffBaseMs: number;
  /** The longest a peer is kept away; an offence this long after the last one starts again from the base. */
  backoffMaxMs: number;
}

export const DEFAULT_REFUSAL_BUDGET: RefusalBudgetConfig = {
  burst: 2048,
  perSecond: 64,
  backoffBaseMs: 10_000,
  backoffMaxMs: 10 * 60_000,
};

interface Penalty {
  until: number;
  offences: number;
  lastOffence: number;
}

/**
 * Per paired peer: a token bucket of refusals, and the penalty of a peer
 * that ran it dry. A refusal is cheap for the node by design (no signature,
 * no event of its own), but not free: past the budget the peer is cut off
 * rather than served at whatever rate it can push. Entries exist only for
 * peers that had a session, so the maps are bounded by the trust store.
 */
export class RefusalBudgets {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly penalties = new Map<string, Penalty>();

  constructor(
    private readonly config: RefusalBudgetConfig,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one refusal from the peer's budget; false once the budget is spent. */
  charge(peerId: string): boolean {
    let bucket = this.buckets.get(peerId);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.config.burst, this.config.perSecond, this.now);
      this.buckets.set(peerId, bucket);
    }
    return bucket.take();
  }

  /** Records an offence and returns how long the peer is now kept away, in ms. */
  penalize(peerId: string): number {
    const now = this.now();
    const { backoffBaseMs, backoffMaxMs } = this.config;
    const previous = this.penalties.get(peerId);
    const offences = previous === undefined || now - previous.lastOffence > backoffMaxMs ? 1 : previous.offences + 1;
    const lengthMs = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(offences - 1, 30));
    this.penalties.set(peerId, { until: now + lengthMs, offences, lastOffence: now });
    // A fresh budget once the penalty is over: the peer starts clean, and a repeat offence doubles the penalty.
    this.buckets.delete(peerId);
    return lengthMs;
  }

  /** Milliseconds the peer is still kept away (0 when it is not). */
  remainingMs(peerId: string): number {
    const penalty = this.penalties.get(peerId);
    return penalty === undefined ? 0 : Math.max(0, penalty.until - this.now());
  }

  /** The peer is no longer paired: nothing about it is kept. */
  forget(peerId: string): void {
    this.buckets.delete(peerId);
    this.penalties.delete(peerId);
  }
}
