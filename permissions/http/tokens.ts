import { randomBytes } from 'node:crypto';

/**
 * Short-lived bearer tokens a plugin gets for its secret, so the long-lived
 * secret travels once instead of with every call. Kept in memory only:
 * a host restart makes plugins ask again.
 *
 * Expired tokens are remembered for a while (bounded in time and count), so
 * a plugin is told "expired, ask for a new one" rather than "unknown", which
 * would suggest a wrong secret or a token from another host.
 */

export interface IssuedToken {
  token: string;
  /** Milliseconds since the epoch, by the store's clock. */
  expiresAt: number;
}

export type TokenVerdict = { valid: true; pluginId: string; credential: string } | { valid: false; reason: 'unknown' | 'expired' };

export interface TokenStoreOptions {
  ttlMs?: number;
  /** How long an expired token, once noticed, is still recognised as expired rather than unknown. */
  expiredMemoryMs?: number;
  /** At most this many expired tokens are remembered; the oldest are forgotten first. */
  maxExpiredRemembered?: number;
  /** Milliseconds since the epoch; injectable so tests can expire tokens. */
  now?: () => number;
}

export const DEFAULT_TOKEN_TTL_MS = 15 * 60 * 1000;
export const DEFAULT_EXPIRED_MEMORY_MS = 60 * 60 * 1000;
export const DEFAULT_MAX_EXPIRED_REMEMBERED = 1024;

export class TokenStore {
  private readonly sessions = new Map<string, { pluginId: string; credential: string; expiresAt: number }>();
  /** Token -> when it was found expired; insertion order is that order, so the oldest come first. */
  private readonly expired = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly expiredMemoryMs: number;
  private readonly maxExpiredRemembered: number;
  private readonly now: () => number;

  constructor(options: TokenStoreOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.expiredMemoryMs = options.expiredMemoryMs ?? DEFAULT_EXPIRED_MEMORY_MS;
    this.maxExpiredRemembered = options.maxExpiredRemembered ?? DEFAULT_MAX_EXPIRED_REMEMBERED;
    this.now = options.now ?? Date.now;
  }

  /** Whole seconds a fresh token lives (the `expires_in` of the token response). */
  get ttlSeconds(): number {
    return Math.floor(this.ttlMs / 1000);
  }

  /**
   * `credential` names what the token was issued for (a digest of the
   * plugin's secret): the Host API compares it with the plugin's current
   * one, so replacing a leaked secret also ends the tokens it bought.
   */
  issue(pluginId: string, credential: string): IssuedToken {
    const now = this.now();
    // Sweeping here bounds the live tokens by the issue rate times the ttl.
    for (const [token, session] of this.sessions) {
      if (session.expiresAt <= now) this.retire(token, now);
    }
    this.forgetOldExpired(now);
    const token = randomBytes(32).toString('base64url');
    const expiresAt = now + this.ttlMs;
    this.sessions.set(token, { pluginId, credential, expiresAt });
    return { token, expiresAt };
  }

  verify(token: string): TokenVerdict {
    const now = this.now();
    const session = this.sessions.get(token);
    if (session !== undefined && session.expiresAt > now) return { valid: true, pluginId: session.pluginId, credential: session.credential };
    if (session !== undefined) this.retire(token, now);
    this.forgetOldExpired(now);
    return { valid: false, reason: this.expired.has(token) ? 'expired' : 'unknown' };
  }

  private retire(token: string, now: number): void {
    this.sessions.delete(token);
    this.expired.set(token, now);
    if (this.expired.size > this.maxExpiredRemembered) {
      const oldest = this.expired.keys().next().value;
      if (oldest !== undefined) this.expired.delete(oldest);
    }
  }

  private forgetOldExpired(now: number): void {
    for (const [token, retiredAt] of this.expired) {
      if (now - retiredAt < this.expiredMemoryMs) return;
      this.expired.delete(token);
    }
  }
}
