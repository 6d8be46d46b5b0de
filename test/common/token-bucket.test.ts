import t from 'tap';
import { TokenBucket } from '../../extension/common/token-bucket';

/** A bucket on a clock the test moves by hand. */
function bucketOn(capacity: number, ratePerSecond: number) {
  const clock = { ms: 1_000_000 };
  const bucket = new TokenBucket(capacity, ratePerSecond, () => clock.ms);
  return { bucket, clock };
}

/** How many unit takes succeed right now (stops at the first refusal). */
function drain(bucket: TokenBucket, limit = 1000): number {
  let taken = 0;
  while (taken < limit && bucket.take()) taken += 1;
  return taken;
}

t.test('a full bucket allows a burst of exactly its capacity, then refuses', async (t) => {
  const { bucket } = bucketOn(5, 1);
  for (let i = 0; i < 5; i += 1) t.equal(bucket.take(), true, `take ${i + 1} of 5`);
  t.equal(bucket.take(), false, 'the sixth is refused');
  t.equal(bucket.take(), false, 'and stays refused while the clock stands still');
});

t.test('a refused take costs nothing', async (t) => {
  const { bucket, clock } = bucketOn(2, 1);
  t.equal(drain(bucket), 2);
  for (let i = 0; i < 10; i += 1) t.equal(bucket.take(), false);
  clock.ms += 1000;
  t.equal(bucket.take(), true, 'one second gives back one token despite the refusals');
  t.equal(bucket.take(), false);
});

t.test('refill is proportional to the elapsed time', async (t) => {
  const { bucket, clock } = bucketOn(10, 2);
  t.equal(drain(bucket), 10);
  clock.ms += 250;
  t.equal(bucket.take(), false, 'a quarter second at 2/s is half a token');
  clock.ms += 250;
  t.equal(bucket.take(), true, 'half a second at 2/s is one token');
  t.equal(bucket.take(), false);
  clock.ms += 3000;
  t.equal(drain(bucket), 6, 'three seconds at 2/s are six tokens');
});

t.test('fractions of a token accumulate over several small steps', async (t) => {
  const { bucket, clock } = bucketOn(3, 1);
  t.equal(drain(bucket), 3);
  // Quarter seconds at 1/s are exact in binary floating point.
  for (let i = 0; i < 3; i += 1) {
    clock.ms += 250;
    t.equal(bucket.take(), false, `after ${(i + 1) * 250} ms there is less than one token`);
  }
  clock.ms += 250;
  t.equal(bucket.take(), true, 'after 1000 ms in four steps there is one');
  t.equal(bucket.take(), false);
});

t.test('the bucket never holds more than its capacity', async (t) => {
  const { bucket, clock } = bucketOn(4, 10);
  clock.ms += 60 * 60 * 1000;
  t.equal(drain(bucket), 4, 'an hour idle on a full bucket still allows only the capacity');
  clock.ms += 10 * 60 * 1000;
  t.equal(drain(bucket), 4, 'ten idle minutes after draining refill to the capacity and no further');
});

t.test('a cost above one takes that many tokens', async (t) => {
  const { bucket, clock } = bucketOn(5, 1);
  t.equal(bucket.take(3), true);
  t.equal(bucket.take(3), false, 'two tokens left are not enough for three');
  t.equal(bucket.take(2), true, 'the refused take left the two in place');
  t.equal(bucket.take(1), false);
  clock.ms += 2000;
  t.equal(bucket.take(3), false, 'two seconds at 1/s are two tokens, not three');
  clock.ms += 1000;
  t.equal(bucket.take(3), true);
  t.equal(bucket.take(6), false, 'a cost above the capacity is refused');
  clock.ms += 60_000;
  t.equal(bucket.take(6), false, 'even on a full bucket');
  t.equal(bucket.take(5), true, 'a cost equal to the capacity fits a full bucket');
});

t.test('the default clock is the wall clock', async (t) => {
  const bucket = new TokenBucket(2, 0.001);
  t.equal(bucket.take(), true);
  t.equal(bucket.take(), true);
  t.equal(bucket.take(), false);
});

t.test('a clock that steps back does not drain the bucket', async (t) => {
  // consent.ts builds its bucket on the default Date.now, which jumps back
  // when the system clock is corrected. A step back must not cost tokens.
  const { bucket, clock } = bucketOn(5, 5 / 60);
  clock.ms -= 60 * 60 * 1000;
  t.equal(bucket.take(), true, 'a full bucket still allows a take after the clock stepped back an hour');
});

t.test('waitMs: how long until the next token, as a Retry-After needs it', async (t) => {
  let now = 0;
  const bucket = new TokenBucket(2, 4, () => now);
  t.equal(bucket.waitMs(), 0, 'a full bucket: no wait');
  t.ok(bucket.take());
  t.ok(bucket.take());
  t.notOk(bucket.take());
  t.equal(bucket.waitMs(), 250);
  now = 100;
  t.equal(bucket.waitMs(), 150, 'part of a token has come back');
  t.notOk(bucket.take(), 'a refused take takes nothing');
  now = 250;
  t.ok(bucket.take());
  now = 10_000;
  t.same([bucket.take(), bucket.take(), bucket.take()], [true, true, false], 'an idle bucket holds no more than its capacity');
});

t.test('a bucket that could never allow anything is refused', async (t) => {
  t.throws(() => new TokenBucket(0, 1), RangeError);
  t.throws(() => new TokenBucket(1, 0), RangeError);
  t.throws(() => new TokenBucket(Number.NaN, 1), RangeError);
});
