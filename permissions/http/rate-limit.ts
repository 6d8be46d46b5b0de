/**
 * A token bucket: up to `burst` requests at once, then `perSecond` on
 * average. The token exchange uses it so that guessing plugin secrets (or
 * simply hammering the endpoint) costs time, not just CPU.
 */

export interface RateLimitOptions {
  burst: number;
  perSecond: number;
  /** Milliseconds; injectable so tests can refill the bucket. */
  now?: () => number;
}

export type RateVerdict = { allowed: true } | { allowed: false; retryAfterMs: number };

export class RateLimit {
  private available: number;
  private updatedAt: number;
  private readonly now: () => number;

  constructor(private readonly options: RateLimitOptions) {
    if (!(options.burst >= 1) || !(options.perSecond > 0)) {
      throw new RangeError(`a rate limit needs burst >= 1 and perSecond > 0, got burst ${options.burst}, perSecond ${options.perSecond}`);
    }
    this.now = options.now ?? Date.now;
    this.available = options.burst;
    this.updatedAt = this.now();
  }

  take(): RateVerdict {
    const now = this.now();
    const refill = (Math.max(0, now - this.updatedAt) / 1000) * this.options.perSecond;
    this.available = Math.min(this.options.burst, this.available + refill);
    this.updatedAt = now;
    if (this.available >= 1) {
      this.available -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterMs: Math.ceil(((1 - this.available) / this.options.perSecond) * 1000) };
  }
}
