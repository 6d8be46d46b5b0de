import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The codes of the web page's login links. A running host has a link key
 * (32 random bytes, made at start, kept only in memory and in its 0600
 * `host-api.json`); a code is `<expiry>.<nonce>.<mac>`, the mac an
 * HMAC-SHA256 of `<expiry>.<nonce>` under that key. So the host and
 * `p2p-comm-host page` (which reads the key from the host dir) can both
 * make links, and the host checks them without keeping a list: each link
 * works once, and only until it expires, so a link left in a log, a
 * terminal's scrollback or a browser's history is soon worth nothing.
 */
export const DEFAULT_LOGIN_LINK_TTL_MS = 10 * 60 * 1000;

const CODE = /^([0-9]{1,15})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export function newLinkKey(): string {
  return randomBytes(32).toString('base64url');
}

/** A code that logs in once before `now + ttlMs` (milliseconds since the epoch). */
export function mintLoginCode(linkKey: string, now: number, ttlMs: number = DEFAULT_LOGIN_LINK_TTL_MS): string {
  const body = `${Math.floor((now + ttlMs) / 1000)}.${randomBytes(16).toString('base64url')}`;
  return `${body}.${mac(linkKey, body)}`;
}

export type CodeCheck = { valid: true; nonce: string; expiresAt: number } | { valid: false; reason: 'malformed' | 'forged' | 'expired' };

/** Whether `code` was made with `linkKey` and has not expired; whether it was used already is the caller's to know. */
export function checkLoginCode(linkKey: string, code: string, now: number): CodeCheck {
  const parts = CODE.exec(code);
  if (parts === null) return { valid: false, reason: 'malformed' };
  const [, expiry = '', nonce = '', given = ''] = parts;
  const expected = Buffer.from(mac(linkKey, `${expiry}.${nonce}`), 'base64url');
  if (!timingSafeEqual(expected, Buffer.from(given, 'base64url'))) return { valid: false, reason: 'forged' };
  const expiresAt = Number(expiry) * 1000;
  if (expiresAt <= now) return { valid: false, reason: 'expired' };
  return { valid: true, nonce, expiresAt };
}

/** The link a browser opens: `<api url>/ui/login?code=...`. */
export function pageLoginLink(apiUrl: string, code: string): string {
  return `${apiUrl}/ui/login?code=${code}`;
}

function mac(linkKey: string, body: string): string {
  return createHmac('sha256', Buffer.from(linkKey, 'base64url')).update(body).digest('base64url');
}
