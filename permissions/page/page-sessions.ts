import { randomBytes } from 'node:crypto';
import { TokenBucket } from '../../extension/common/token-bucket';
import { checkLoginCode, DEFAULT_LOGIN_LINK_TTL_MS, mintLoginCode, newLinkKey } from './login-codes';

/**
 * Who may use the web page: whoever opens a login link (printed by the host
 * at start, or by `p2p-comm-host page`) gets a session cookie. A link works
 * once and for a few minutes (login-codes.ts). Sessions live in memory: a
 * restarted host has a new link key, and its old links and sessions are
 * worth nothing.
 */
export interface PageSessionsOptions {
  /** How long a session lasts after login. */
  sessionTtlMs?: number;
  /** Sessions kept at once; the oldest is ended first. */
  maxSessions?: number;
  /** How long a login link made by this host works. */
  loginLinkTtlMs?: number;
  /** Login attempts: `burst` at once, then `perSecond`, so no code can be guessed. */
  loginRateLimit?: { burst: number; perSecond: number };
  now?: () => number;
}

export const DEFAULT_PAGE_SESSION_TTL_MS = 12 * 60 * 60 * 1000;
export const DEFAULT_MAX_PAGE_SESSIONS = 32;
export const DEFAULT_LOGIN_RATE_LIMIT = { burst: 10, perSecond: 1 };

export interface PageSession {
  id: string;
  expiresAt: number;
  /** One line shown on the next page, then dropped (the outcome of a form). */
  notice: { text: string; failed: boolean } | undefined;
}

export type LoginRefusal = 'wrong_code' | 'expired_code' | 'used_code' | 'rate_limited';
export type LoginOutcome = { session: PageSession } | { refused: LoginRefusal };

export class PageSessions {
  /** What login links are made with; `p2p-comm-host page` reads it from host-api.json. */
  readonly linkKey = newLinkKey();
  private readonly sessions = new Map<string, PageSession>();
  /** Nonces of the links used, with when each link expires: a link works once. */
  private readonly usedLinks = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly maxSessions: number;
  private readonly loginLinkTtlMs: number;
  private readonly loginRate: TokenBucket;
  private readonly now: () => number;

  constructor(options: PageSessionsOptions = {}) {
    this.ttlMs = options.sessionTtlMs ?? DEFAULT_PAGE_SESSION_TTL_MS;
    this.maxSessions = options.maxSessions ?? DEFAULT_MAX_PAGE_SESSIONS;
    this.loginLinkTtlMs = options.loginLinkTtlMs ?? DEFAULT_LOGIN_LINK_TTL_MS;
    const { burst, perSecond } = options.loginRateLimit ?? DEFAULT_LOGIN_RATE_LIMIT;
    this.now = options.now ?? Date.now;
    this.loginRate = new TokenBucket(burst, perSecond, this.now);
  }

  get ttlSeconds(): number {
    return Math.floor(this.ttlMs / 1000);
  }

  /** A new login link's code. */
  newLoginCode(): string {
    return mintLoginCode(this.linkKey, this.now(), this.loginLinkTtlMs);
  }

  login(code: string): LoginOutcome {
    if (!this.loginRate.take()) return { refused: 'rate_limited' };
    const now = this.now();
    const check = checkLoginCode(this.linkKey, code, now);
    if (!check.valid) return { refused: check.reason === 'expired' ? 'expired_code' : 'wrong_code' };
    for (const [nonce, expiresAt] of this.usedLinks) if (expiresAt <= now) this.usedLinks.delete(nonce);
    if (this.usedLinks.has(check.nonce)) return { refused: 'used_code' };
    // Bounded by the login rate times the link lifetime.
    this.usedLinks.set(check.nonce, check.expiresAt);
    const session: PageSession = { id: randomBytes(32).toString('base64url'), expiresAt: this.now() + this.ttlMs, notice: undefined };
    this.sessions.set(session.id, session);
    if (this.sessions.size > this.maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    return { session };
  }

  /** The live session with this id, if any. */
  find(id: string | undefined): PageSession | undefined {
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    if (session.expiresAt > this.now()) return session;
    this.sessions.delete(id);
    return undefined;
  }

  /** Whether any session is live: someone logged in and has not logged out. */
  anyLive(): boolean {
    const now = this.now();
    for (const session of this.sessions.values()) if (session.expiresAt > now) return true;
    return false;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }
}
