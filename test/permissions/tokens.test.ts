import t from 'tap';
import { DEFAULT_TOKEN_TTL_MS, TokenStore } from '../../permissions/http/tokens';

t.test('an issued token names its plugin until it expires', async (t) => {
  let now = 1_000;
  const tokens = new TokenStore({ ttlMs: 60_000, now: () => now });
  const { token, expiresAt } = tokens.issue('agent', 'c');
  t.match(token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  t.equal(expiresAt, 61_000);
  t.same(tokens.verify(token), { valid: true, pluginId: 'agent', credential: 'c' });
  now = 60_999;
  t.same(tokens.verify(token), { valid: true, pluginId: 'agent', credential: 'c' }, 'still valid just before expiry');
  now = 61_000;
  t.same(tokens.verify(token), { valid: false, reason: 'expired' }, 'expired at expiresAt');
  t.same(tokens.verify(token), { valid: false, reason: 'expired' }, 'and still known as expired');
});

t.test('unknown tokens are refused and every token is fresh', async (t) => {
  const tokens = new TokenStore();
  const first = tokens.issue('agent', 'c').token;
  const second = tokens.issue('agent', 'c').token;
  t.not(first, second);
  t.same(tokens.verify('not-a-token'), { valid: false, reason: 'unknown' });
  t.same(tokens.verify(''), { valid: false, reason: 'unknown' });
});

t.test('the ttl defaults to 15 minutes and is reported in whole seconds', async (t) => {
  t.equal(DEFAULT_TOKEN_TTL_MS, 15 * 60 * 1000);
  t.equal(new TokenStore().ttlSeconds, 900);
  t.equal(new TokenStore({ ttlMs: 1_500 }).ttlSeconds, 1);
});

t.test('issuing sweeps the expired tokens, which are still told apart from unknown ones', async (t) => {
  let now = 0;
  const tokens = new TokenStore({ ttlMs: 10, now: () => now });
  const old = tokens.issue('old', 'c').token;
  now = 5;
  const live = tokens.issue('live', 'c').token;
  now = 12;
  tokens.issue('new', 'c');
  t.same(tokens.verify(old), { valid: false, reason: 'expired' });
  t.same(tokens.verify(live), { valid: true, pluginId: 'live', credential: 'c' });
});

t.test('expired tokens are remembered for a bounded time', async (t) => {
  let now = 0;
  const tokens = new TokenStore({ ttlMs: 10, expiredMemoryMs: 100, now: () => now });
  const token = tokens.issue('agent', 'c').token;
  now = 10;
  t.same(tokens.verify(token), { valid: false, reason: 'expired' }, 'noticed expired at 10');
  now = 109;
  t.same(tokens.verify(token), { valid: false, reason: 'expired' }, 'still remembered just before 100 ms have passed');
  now = 110;
  t.same(tokens.verify(token), { valid: false, reason: 'unknown' }, 'then forgotten');
});

t.test('expired tokens are remembered up to a bounded count, the oldest forgotten first', async (t) => {
  let now = 0;
  const tokens = new TokenStore({ ttlMs: 10, maxExpiredRemembered: 2, now: () => now });
  const issued = [tokens.issue('a', 'c').token, tokens.issue('b', 'c').token, tokens.issue('c', 'c').token];
  now = 10;
  // The sweep in issue() retires all three in issue order.
  tokens.issue('d', 'c');
  t.same(
    issued.map((token) => tokens.verify(token)),
    [
      { valid: false, reason: 'unknown' },
      { valid: false, reason: 'expired' },
      { valid: false, reason: 'expired' },
    ],
  );
});
