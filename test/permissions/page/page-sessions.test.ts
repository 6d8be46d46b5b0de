import t from 'tap';
import { DEFAULT_LOGIN_RATE_LIMIT, PageSessions, type PageSession, type PageSessionsOptions } from '../../../permissions/page/page-sessions';

function sessions(options: PageSessionsOptions = {}): { sessions: PageSessions; advance(ms: number): void } {
  let now = 5_000_000;
  return { sessions: new PageSessions({ now: () => now, ...options }), advance: (ms) => (now += ms) };
}

function loggedIn(sessions: PageSessions): PageSession {
  const outcome = sessions.login(sessions.newLoginCode());
  if (!('session' in outcome)) throw new Error(`login refused: ${outcome.refused}`);
  return outcome.session;
}

t.test('login codes are made with a random key per host, each code its own', async (t) => {
  const a = new PageSessions();
  const b = new PageSessions();
  t.match(a.linkKey, /^[A-Za-z0-9_-]{43}$/, '32 random bytes');
  t.not(a.linkKey, b.linkKey);
  const code = a.newLoginCode();
  t.match(code, /^[0-9]+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/, 'expiry, nonce, mac: safe in a URL');
  t.not(a.newLoginCode(), code, 'a new nonce each time');
  t.same(b.login(code), { refused: 'wrong_code' }, 'another host\'s code is worth nothing here');
});

t.test('a wrong code is refused and makes no session', async (t) => {
  const { sessions: s } = sessions();
  const good = s.newLoginCode();
  const [expiry, nonce, mac] = good.split('.') as [string, string, string];
  const forgedMac = `${mac.slice(0, -2)}${mac.endsWith('AA') ? 'AB' : 'AA'}`;
  for (const code of ['', 'guess', good.slice(0, -1), `${good}x`, `${Number(expiry) + 3600}.${nonce}.${mac}`, `${expiry}.${nonce}.${forgedMac}`]) {
    t.same(s.login(code), { refused: 'wrong_code' }, JSON.stringify(code));
  }
  t.equal(s.find(''), undefined);
  t.equal(s.find(undefined), undefined);
  t.ok('session' in s.login(good), 'the code itself still works');
});

t.test('a code works once, and only until it expires', async (t) => {
  const { sessions: s, advance } = sessions({ loginLinkTtlMs: 60_000 });
  const code = s.newLoginCode();
  t.ok('session' in s.login(code));
  t.same(s.login(code), { refused: 'used_code' }, 'used');
  const late = s.newLoginCode();
  advance(60_000);
  t.same(s.login(late), { refused: 'expired_code' }, 'expired');
});

t.test('the right code gives a session that can be found by its id', async (t) => {
  const { sessions: s } = sessions({ sessionTtlMs: 60_000 });
  const session = loggedIn(s);
  t.match(session.id, /^[A-Za-z0-9_-]{43}$/, 'a random id, safe in a cookie');
  t.equal(session.expiresAt, 5_000_000 + 60_000);
  t.equal(session.notice, undefined);
  t.equal(s.find(session.id), session);
  t.not(loggedIn(s).id, session.id, 'each login its own session');
  t.equal(s.ttlSeconds, 60);
});

t.test('logins are rate limited after the burst, wrong and right codes alike, and refill with time', async (t) => {
  const { sessions: s, advance } = sessions({ loginRateLimit: { burst: 3, perSecond: 1 } });
  t.same(s.login('guess'), { refused: 'wrong_code' });
  t.same(s.login('guess'), { refused: 'wrong_code' });
  t.ok('session' in s.login(s.newLoginCode()));
  t.same(s.login('guess'), { refused: 'rate_limited' }, 'the burst is spent');
  t.same(s.login(s.newLoginCode()), { refused: 'rate_limited' }, 'even the right code waits: the limit is checked first');
  advance(999);
  t.same(s.login(s.newLoginCode()), { refused: 'rate_limited' }, 'not yet a whole token');
  advance(1);
  t.ok('session' in s.login(s.newLoginCode()), 'one login a second after the burst');
  t.same(s.login(s.newLoginCode()), { refused: 'rate_limited' });
});

t.test('the default rate limit lets the burst through, then refuses', async (t) => {
  const { sessions: s } = sessions();
  for (let i = 0; i < DEFAULT_LOGIN_RATE_LIMIT.burst; i++) t.same(s.login('wrong'), { refused: 'wrong_code' });
  t.same(s.login(s.newLoginCode()), { refused: 'rate_limited' });
});

t.test('a session expires after its ttl', async (t) => {
  const { sessions: s, advance } = sessions({ sessionTtlMs: 1000 });
  const session = loggedIn(s);
  advance(999);
  t.equal(s.find(session.id), session, 'still valid just before');
  advance(1);
  t.equal(s.find(session.id), undefined, 'ended at its expiry');
  advance(-1000);
  t.equal(s.find(session.id), undefined, 'and forgotten: a clock stepped back does not revive it');
});

t.test('beyond maxSessions the oldest is dropped', async (t) => {
  const { sessions: s } = sessions({ maxSessions: 2 });
  const first = loggedIn(s);
  const second = loggedIn(s);
  const third = loggedIn(s);
  t.equal(s.find(first.id), undefined, 'the oldest is gone');
  t.equal(s.find(second.id), second);
  t.equal(s.find(third.id), third);
  const fourth = loggedIn(s);
  t.equal(s.find(second.id), undefined);
  t.equal(s.find(fourth.id), fourth);
});

t.test('end() ends that session only', async (t) => {
  const { sessions: s } = sessions();
  const a = loggedIn(s);
  const b = loggedIn(s);
  s.end(a.id);
  t.equal(s.find(a.id), undefined);
  t.equal(s.find(b.id), b);
  s.end('no such session');
  t.equal(s.find(b.id), b, 'ending an unknown id changes nothing');
});

t.test('anyLive says whether someone is logged in now', async (t) => {
  const { sessions: s, advance } = sessions({ sessionTtlMs: 60_000 });
  t.notOk(s.anyLive(), 'nobody yet');
  const session = loggedIn(s);
  t.ok(s.anyLive());
  s.end(session.id);
  t.notOk(s.anyLive(), 'logged out');
  loggedIn(s);
  advance(60_000);
  t.notOk(s.anyLive(), 'expired');
});
