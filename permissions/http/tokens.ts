import { randomBytes } from 'node:crypto';

/**
 * Short-lived bearer tokens a plugin gets for its secret, so the long-lived
 * secret travels once instead of with every call. Kept in memory only:
 * a host restart makes plugins ask again.
 */

export interface IssuedToken {
  token: string;
  /** Milliseconds since the epoch, by the store's clock. */
  expiresAt: number;
}

export interface TokenStoreOptions {
  ttlMs?: number;
  /** Milliseconds since the epoch; injectable so tests can expire tokens. */
  now?: () => number;
}

export const DEFAULT_TOKEN_TTL_MS = 15 * 60 * 1000;

export class TokenStore {
  private readonly sessions = new Map<string, { pluginId: string; expiresAt: number }>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: TokenStoreOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  /** Whole seconds a fresh token lives (the `expires_in` of the token response). */
  get ttlSeconds(): number {
    return Math.floor(this.ttlMs / 1000);
  }

  issue(pluginId: string): IssuedToken {
    const now = this.now();
    // Dropping the expired ones here bounds the store by the issue rate times the ttl.
    for (const [token, session] of this.sessions) {
      if (session.expiresAt <= now) this.sessions.delete(token);
    }
    const token = randomBytes(32).toString('base64url');
    const expiresAt = now + this.ttlMs;
    this.sessions.set(token, { pluginId, expiresAt });
    return { token, expiresAt };
  }

  /** The plugin the token was issued to, or null when it is unknown or expired. */
  verify(token: string): string | null {
    const session = this.sessions.get(token);
    if (session === undefined) return null;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(token);
      return null;
    }
    return session.pluginId;
  }
}
