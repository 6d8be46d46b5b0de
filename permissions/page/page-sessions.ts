import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import { TokenBucket } from '../../extension/common/token-bucket';

/**
 * Who may use the web page: whoever opens the login link the host printed
 * (its code is made at start and lives as long as the host) gets a session
 * cookie. Sessions live in memory: a restarted host prints a new link.
 */
export interface PageSessionsOptions {
  /** How long a session lasts after login. */
  sessionTtlMs?: number;
  /** Sessions kept at once; the oldest is ended first. */
  maxSessions?: number;
  /** Login attempts: `burst` at once, then `perSecond`, so the code cannot be guessed. */
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

export type LoginOutcome = { session: PageSession } | { refused: 'wrong_code' | 'rate_limited' };

export class PageSessions {
  /** The secret of the login link. */
  readonly loginCode = randomBytes(32).toString('base64url');
  private readonly sessions = new Map<string, PageSession>();
  private readonly ttlMs: number;
  private readonly maxSessions: number;
  private readonly loginRate: TokenBucket;
  private readonly now: () => number;

  constructor(options: PageSessionsOptions = {}) {
    this.ttlMs = options.sessionTtlMs ?? DEFAULT_PAGE_SESSION_TTL_MS;
    this.maxSessions = options.maxSessions ?? DEFAULT_MAX_PAGE_SESSIONS;
    const { burst, perSecond } = options.loginRateLimit ?? DEFAULT_LOGIN_RATE_LIMIT;
    this.now = options.now ?? Date.now;
    this.loginRate = new TokenBucket(burst, perSecond, this.now);
  }

  get ttlSeconds(): number {
    return Math.floor(this.ttlMs / 1000);
  }

  login(code: string): LoginOutcome {
    if (!this.loginRate.take()) return { refused: 'rate_limited' };
    if (!timingSafeEqual(digest(code), digest(this.loginCode))) return { refused: 'wrong_code' };
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

  end(id: string): void {
    this.sessions.delete(id);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
