import t from 'tap';
import { Backoff } from '../../extension/common/backoff';

/** Just under 1: each wait is the ceiling minus one, for ceilings under a million. */
const ALMOST_ONE = () => 0.999999;

t.test('the ceilings double from the base and stop at the maximum', async (t) => {
  const backoff = new Backoff({ baseMs: 100, maxMs: 10_000, random: ALMOST_ONE });
  const waits = Array.from({ length: 10 }, () => backoff.next());
  t.same(waits, [99, 199, 399, 799, 1599, 3199, 6399, 9999, 9999, 9999]);
});

t.test('a maximum that is not a power-of-two multiple of the base is reached exactly', async (t) => {
  const backoff = new Backoff({ baseMs: 1000, maxMs: 5000, random: ALMOST_ONE });
  t.same(
    Array.from({ length: 5 }, () => backoff.next()),
    [999, 1999, 3999, 4999, 4999],
  );
});

t.test('with random 0 every wait is 0', async (t) => {
  const backoff = new Backoff({ baseMs: 250, maxMs: 30_000, random: () => 0 });
  const waits = Array.from({ length: 50 }, () => backoff.next());
  t.same(waits, new Array(50).fill(0));
  t.equal(backoff.attempts, 50);
});

t.test('waits are whole milliseconds below the ceiling', async (t) => {
  const values = [0.1, 0.5, 0.73];
  let index = 0;
  const backoff = new Backoff({ baseMs: 100, maxMs: 1000, random: () => values[index++ % values.length] as number });
  t.same(
    Array.from({ length: 6 }, () => backoff.next()),
    [10, 100, 292, 80, 500, 730],
  );
});

t.test('attempts counts the waits handed out and reset starts over', async (t) => {
  const backoff = new Backoff({ baseMs: 50, maxMs: 1000, random: ALMOST_ONE });
  t.equal(backoff.attempts, 0);
  t.equal(backoff.next(), 49);
  t.equal(backoff.attempts, 1);
  t.equal(backoff.next(), 99);
  t.equal(backoff.next(), 199);
  t.equal(backoff.attempts, 3);
  backoff.reset();
  t.equal(backoff.attempts, 0, 'reset clears the count');
  t.equal(backoff.next(), 49, 'and the next wait is back at the base');
  t.equal(backoff.attempts, 1);
  t.equal(backoff.next(), 99);
});

t.test('many attempts do not overflow past the maximum', async (t) => {
  const backoff = new Backoff({ baseMs: 1000, maxMs: 60_000, random: ALMOST_ONE });
  const waits = Array.from({ length: 100 }, () => backoff.next());
  t.equal(backoff.attempts, 100);
  t.ok(
    waits.every((wait) => Number.isInteger(wait) && wait >= 0 && wait <= 60_000),
    'every wait is a whole number from 0 to the maximum',
  );
  t.equal(waits[99], 59_999, 'the hundredth wait is still at the maximum');
  for (let i = 0; i < 2000; i += 1) backoff.next();
  t.equal(backoff.attempts, 2100);
  t.equal(backoff.next(), 59_999, 'and so is the 2101st');
});

t.test('a huge maximum is capped by the exponent limit, never Infinity', async (t) => {
  const backoff = new Backoff({ baseMs: 1, maxMs: Number.MAX_SAFE_INTEGER, random: () => 0.5 });
  let last = 0;
  for (let i = 0; i < 1100; i += 1) last = backoff.next();
  t.ok(Number.isFinite(last), 'the wait stays finite after 1100 attempts');
  t.ok(last <= Number.MAX_SAFE_INTEGER);
  t.equal(last, 2 ** 29, 'the ceiling stops at base * 2^30');
});

t.test('without an injected random the waits stay in [0, ceiling)', async (t) => {
  const backoff = new Backoff({ baseMs: 100, maxMs: 400 });
  const outside: string[] = [];
  for (let i = 0; i < 200; i += 1) {
    const ceiling = Math.min(400, 100 * 2 ** i);
    const wait = backoff.next();
    if (!(Number.isInteger(wait) && wait >= 0 && wait < ceiling)) outside.push(`wait ${i} is ${wait}, outside [0, ${ceiling})`);
  }
  t.same(outside, [], '200 waits all within their ceilings');
});
