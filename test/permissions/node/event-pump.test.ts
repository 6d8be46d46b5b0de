import t from 'tap';
import { EventPump } from '../../../permissions/node/event-pump';

/** A poll that tells the test each time it is made, and when. */
function polls(): { poll: () => Promise<unknown>; next(): Promise<number>; failNext(): void } {
  const waiting: ((at: number) => void)[] = [];
  const made: number[] = [];
  let fail = false;
  return {
    poll: async () => {
      const at = Date.now();
      const waiter = waiting.shift();
      if (waiter === undefined) made.push(at);
      else waiter(at);
      if (fail) {
        fail = false;
        throw new Error('the extension is restarting');
      }
    },
    next: () => {
      const at = made.shift();
      return at === undefined ? new Promise((resolve) => waiting.push(resolve)) : Promise.resolve(at);
    },
    failNext: () => {
      fail = true;
    },
  };
}

// The pump's timer does not keep a process alive (a host that stops must exit): the tests keep theirs alive while they wait.
const keepAlive = setInterval(() => undefined, 60_000);
t.teardown(() => clearInterval(keepAlive));

t.test('an idle host polls every interval, and goes on after a poll that failed', async (t) => {
  const made = polls();
  const pump = new EventPump(made.poll, 20);
  t.teardown(() => pump.stop());
  made.failNext();
  pump.start();
  const first = await made.next();
  const second = await made.next();
  t.ok(second - first >= 19, `the next poll came an interval later (${second - first} ms)`);
});

t.test('the poll comes an interval after the last call, not on a fixed beat', async (t) => {
  const made = polls();
  const pump = new EventPump(made.poll, 40);
  t.teardown(() => pump.stop());
  pump.start();
  await made.next();
  await pump.around(async () => undefined);
  const callEnded = Date.now();
  const polled = await made.next();
  t.ok(polled - callEnded >= 39, `not before an interval had passed since the call (${polled - callEnded} ms)`);
});

t.test('an interval of 0 never polls', async (t) => {
  const made = polls();
  const pump = new EventPump(made.poll, 0);
  pump.start();
  await pump.around(async () => undefined);
  let polled = false;
  void made.next().then(() => (polled = true));
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.notOk(polled);
});

t.test('a hurry polls at its shorter interval until released, then the pump goes back to its own', async (t) => {
  const made = polls();
  // An hour: without the hurry, no poll would come during the test.
  const pump = new EventPump(made.poll, 3_600_000, Date.now, 5);
  t.teardown(() => pump.stop());
  pump.start();
  const release = pump.hurry();
  const first = await made.next();
  const second = await made.next();
  t.ok(second - first < 1000, `polled again soon (${second - first} ms)`);
  release();
  release();
  let polled = false;
  void made.next().then(() => (polled = true));
  await pump.around(async () => undefined);
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.notOk(polled, 'released (twice, counted once): back to polling every hour');
});

t.test('a hurry lasts its window only: a stream left open does not keep the pump hurried', async (t) => {
  const clock = { now: 0 };
  const pump = new EventPump(async () => undefined, 3_600_000, () => clock.now, 5, 10_000);
  const first = pump.hurry();
  t.ok(pump.hurried);
  clock.now = 9_999;
  t.ok(pump.hurried, 'within the window');
  clock.now = 10_000;
  t.notOk(pump.hurried, 'the window closed, though not released');
  const second = pump.hurry();
  t.ok(pump.hurried, 'hurried again, as after an answer');
  second();
  t.notOk(pump.hurried, 'released before its window closed');
  first();
});
