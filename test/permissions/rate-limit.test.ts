import t from 'tap';
import { RateLimit } from '../../permissions/http/rate-limit';

t.test('a burst, then the refill rate', async (t) => {
  let now = 0;
  const limit = new RateLimit({ burst: 2, perSecond: 4, now: () => now });
  t.same(limit.take(), { allowed: true });
  t.same(limit.take(), { allowed: true });
  t.same(limit.take(), { allowed: false, retryAfterMs: 250 });
  now = 100;
  t.same(limit.take(), { allowed: false, retryAfterMs: 150 }, 'part of a token has come back');
  now = 250;
  t.same(limit.take(), { allowed: true });
  now = 10_000;
  t.same([limit.take(), limit.take(), limit.take()].map((verdict) => verdict.allowed), [true, true, false], 'an idle bucket holds no more than the burst');
});

t.test('a refused request takes nothing', async (t) => {
  let now = 0;
  const limit = new RateLimit({ burst: 1, perSecond: 1, now: () => now });
  limit.take();
  for (let i = 0; i < 5; i += 1) limit.take();
  now = 1_000;
  t.same(limit.take(), { allowed: true });
});

t.test('a limit that could never allow anything is refused', async (t) => {
  t.throws(() => new RateLimit({ burst: 0, perSecond: 1 }), RangeError);
  t.throws(() => new RateLimit({ burst: 1, perSecond: 0 }), RangeError);
  t.throws(() => new RateLimit({ burst: Number.NaN, perSecond: 1 }), RangeError);
});
