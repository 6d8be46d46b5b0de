/**
 * A token bucket: `capacity` events at once, refilled at `ratePerSecond`.
 * Time is injected so the tests never sleep. Both the extension (peers,
 * strangers, LAN announcements) and the reference host (its token
 * exchange) limit with it.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly capacity: number,
    private readonly ratePerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    // A bucket that could never hold a token would refuse everything, silently.
    if (!(capacity >= 1) || !(ratePerSecond > 0)) {
      throw new RangeError(`a token bucket needs a capacity >= 1 and a rate > 0, got capacity ${capacity}, rate ${ratePerSecond}/s`);
    }
    this.tokens = capacity;
    this.last = now();
  }

  /** Takes `cost` tokens if there are enough; says whether it did. */
  take(cost = 1): boolean {
    this.refill();
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** Milliseconds until `cost` tokens are there (0 when they are now), e.g. for a Retry-After. */
  waitMs(cost = 1): number {
    this.refill();
    return this.tokens >= cost ? 0 : Math.ceil(((cost - this.tokens) / this.ratePerSecond) * 1000);
  }

  private refill(): void {
    const now = this.now();
    // A clock stepped back (NTP, suspend) must not take tokens away.
    const elapsed = Math.max(0, now - this.last);
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed / 1000) * this.ratePerSecond);
    this.last = now;
  }
}
