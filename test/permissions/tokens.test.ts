import t from 'tap';
import { DEFAULT_TOKEN_TTL_MS, TokenStore } from '../../permissions/http/tokens';

t.test('an issued token names its plugin until it expires', async (t) => {
  let now = 1_000;
  const tokens = new TokenStore({ ttlMs: 60_000, now: () => now });
  const { token, expiresAt } = tokens.issue('agent');
  t.match(token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  t.equal(expiresAt, 61_000);
  t.equal(tokens.verify(token), 'agent');
  now = 60_999;
  t.equal(tokens.verify(token), 'agent', 'still valid just before expiry');
  now = 61_000;
  t.equal(tokens.verify(token), null, 'expired at expiresAt');
});

t.test('unknown tokens are refused and every token is fresh', async (t) => {
  const tokens = new TokenStore();
  const first = tokens.issue('agent').token;
  const second = tokens.issue('agent').token;
  t.not(first, second);
  t.equal(tokens.verify('not-a-token'), null);
  t.equal(tokens.verify(''), null);
});

t.test('the ttl defaults to 15 minutes and is reported in whole seconds', async (t) => {
  t.equal(DEFAULT_TOKEN_TTL_MS, 15 * 60 * 1000);
  t.equal(new TokenStore().ttlSeconds, 900);
  t.equal(new TokenStore({ ttlMs: 1_500 }).ttlSeconds, 1);
});

t.test('issuing drops the expired tokens without touching live ones', async (t) => {
  let now = 0;
  const tokens = new TokenStore({ ttlMs: 10, now: () => now });
  const old = tokens.issue('old').token;
  now = 5;
  const live = tokens.issue('live').token;
  now = 12;
  tokens.issue('new');
  t.equal(tokens.verify(old), null);
  t.equal(tokens.verify(live), 'live');
});
