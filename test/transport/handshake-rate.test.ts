import t from 'tap';
import { HandshakeRateLimiter } from '../../extension/transport/handshake-rate';

/** A limiter on a clock the test moves by hand. */
function limiterOn(burst: number, perSecond: number, maxAddresses = 100) {
  const clock = { ms: 1_000_000 };
  const limiter = new HandshakeRateLimiter({ rate: { burst, perSecond }, maxAddresses, now: () => clock.ms });
  return { limiter, clock };
}

/** How many connections from `address` are taken right now (stops at the first refusal). */
function drain(limiter: HandshakeRateLimiter, address: string, limit = 1000): number {
  let taken = 0;
  while (taken < limit && limiter.take(address)) taken += 1;
  return taken;
}

t.test('an address gets its burst, then its rate', async (t) => {
  const { limiter, clock } = limiterOn(3, 2);
  t.equal(drain(limiter, '192.0.2.1'), 3, 'the burst');
  clock.ms += 500;
  t.equal(drain(limiter, '192.0.2.1'), 1, 'half a second at 2/s is one more');
});

t.test('addresses are limited separately', async (t) => {
  const { limiter } = limiterOn(2, 1);
  t.equal(drain(limiter, '192.0.2.1'), 2);
  t.equal(drain(limiter, '192.0.2.2'), 2, 'another address still has its whole burst');
  t.equal(limiter.take('192.0.2.1'), false, 'the first stays refused');
});

t.test('at most maxAddresses are remembered: a new one pushes out the one seen longest ago', async (t) => {
  const { limiter } = limiterOn(2, 1, 2);
  t.equal(drain(limiter, 'a'), 2);
  t.equal(drain(limiter, 'b'), 2);
  t.equal(drain(limiter, 'c'), 2, 'a third address is taken in, pushing out a');
  t.equal(limiter.take('b'), false, 'b is still remembered, and refused');
  t.equal(drain(limiter, 'a'), 2, 'a was forgotten: it starts again with a full bucket');
});

t.test('a refused address counts as seen: a flood of new addresses pushes out the quiet ones first', async (t) => {
  const { limiter } = limiterOn(1, 1, 2);
  t.equal(limiter.take('flooder'), true);
  t.equal(limiter.take('quiet'), true);
  t.equal(limiter.take('flooder'), false, 'refused, and now the most recently seen');
  t.equal(limiter.take('newcomer'), true, 'pushes out quiet, not the flooder');
  t.equal(limiter.take('flooder'), false, 'the flooder is still limited');
  t.equal(limiter.take('quiet'), true, 'quiet, forgotten, starts afresh (pushing out newcomer)');
});

t.test('ten thousand addresses cost no more than maxAddresses buckets', async (t) => {
  const { limiter } = limiterOn(1, 1, 3);
  let taken = 0;
  for (let i = 0; i < 10_000; i += 1) if (limiter.take(`10.0.${i >> 8}.${i & 255}`)) taken += 1;
  t.equal(taken, 10_000, 'each new address has its burst');
  for (const recent of ['10.0.39.13', '10.0.39.14', '10.0.39.15']) t.equal(limiter.take(recent), false, `${recent}, among the last three, is remembered`);
  // Were every address kept, the first would still be refused.
  t.equal(limiter.take('10.0.0.0'), true, 'the first was forgotten long ago');
});
