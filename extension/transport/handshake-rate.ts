import { TokenBucket } from '../common/token-bucket';

export interface HandshakeRateOptions {
  rate: { burst: number; perSecond: number };
  /** Addresses remembered at once. */
  maxAddresses: number;
  now?: () => number;
}

/**
 * New connections taken from each remote address, one token bucket per
 * address. Charged at TCP accept, before the node spends anything on the
 * connection: no HTTP parsing, no upgrade, no signature.
 *
 * The buckets are bounded in number: an attacker with many addresses must
 * not grow this map without limit. They are kept in the order their address
 * was last seen, and a new address beyond `maxAddresses` pushes out the one
 * seen longest ago. Forgetting an address gives it a full bucket when it
 * comes back, which is exactly what it would have had anyway once idle for
 * burst / perSecond seconds (4 s by default), so honest addresses lose
 * nothing. Only a sender cycling through more than `maxAddresses` addresses
 * within that time gets fresh buckets early, and such a sender already has
 * that many full buckets to spend: the connection caps bound it, not this.
 */
export class HandshakeRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly now: () => number;

  constructor(private readonly options: HandshakeRateOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Takes a token for one new connection from `address`; false when it is over its rate. */
  take(address: string): boolean {
    let bucket = this.buckets.get(address);
    if (bucket === undefined) {
      if (this.buckets.size >= this.options.maxAddresses) this.forgetLeastRecentlySeen();
      bucket = new TokenBucket(this.options.rate.burst, this.options.rate.perSecond, this.now);
    } else {
      // A Map iterates in insertion order: inserting again marks the address as seen last.
      this.buckets.delete(address);
    }
    this.buckets.set(address, bucket);
    return bucket.take();
  }

  private forgetLeastRecentlySeen(): void {
    const oldest = this.buckets.keys().next();
    if (oldest.done !== true) this.buckets.delete(oldest.value);
  }
}
