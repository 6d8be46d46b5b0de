/**
 * A token bucket: `capacity` events at once, refilled at `ratePerSecond`.
 * Time is injected so the tests never sleep.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly capacity: number,
    private readonly ratePerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = capacity;
    this.last = now();
  }

  /** Takes `cost` tokens if there are enough; says whether it did. */
  take(cost = 1): boolean {
    const now = this.now();
    // A clock stepped back (NTP, suspend) must not take tokens away.
    const elapsed = Math.max(0, now - this.last);
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed / 1000) * this.ratePerSecond);
    this.last = now;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }
}
