import { getEventListeners } from 'node:events';
import t from 'tap';
import { MessageArrivals, type PublishedEvent } from '../../../permissions/mcp/message-arrivals';

const ALICE = 'a'.repeat(51) + 'q';
const BOB = 'b'.repeat(51) + 'q';
/** Longer than any test runs: a wait that ends before it did not run out of time. */
const LONG_MS = 60_000;

function received(peer: string, cursor = 1): PublishedEvent {
  return { type: 'p2p.message.received', data: { peer, message_id: '0'.repeat(32), cursor } };
}

t.test('a message that arrived after arming ends the wait at once', async (t) => {
  const arrivals = new MessageArrivals();
  const arrival = arrivals.arm([ALICE, BOB]);
  arrivals.event(received(BOB));
  t.equal(await arrival.wait(LONG_MS, new AbortController().signal), 'arrived');
  t.equal(arrivals.armedCount, 0, 'unregistered once its wait ended');
});

t.test('a wait ends on the next arrival from an armed peer, not on anything else', async (t) => {
  const arrivals = new MessageArrivals();
  const arrival = arrivals.arm([ALICE]);
  const signal = new AbortController().signal;
  const waiting = arrival.wait(LONG_MS, signal);
  arrivals.event(received(BOB));
  arrivals.event({ type: 'p2p.message.delivered', data: { peer: ALICE } });
  arrivals.event({ type: 'p2p.message.received', data: null });
  arrivals.event({ type: 'p2p.message.received', data: { peer: 7 } });
  t.equal(arrivals.armedCount, 1, 'still waiting');
  arrivals.event(received(ALICE));
  t.equal(arrivals.armedCount, 0, 'unregistered as the message arrived');
  t.equal(await waiting, 'arrived');
  t.equal(getEventListeners(signal, 'abort').length, 0, 'nothing left listening to the signal');
});

t.test('a wait ends after its time when nothing arrives', async (t) => {
  const arrivals = new MessageArrivals();
  const signal = new AbortController().signal;
  t.equal(await arrivals.arm([ALICE]).wait(5, signal), 'elapsed');
  t.equal(arrivals.armedCount, 0);
  t.equal(getEventListeners(signal, 'abort').length, 0);
});

t.test('aborting or cancelling ends a wait at once and unregisters it', async (t) => {
  const arrivals = new MessageArrivals();
  const controller = new AbortController();
  const aborted = arrivals.arm([ALICE]).wait(LONG_MS, controller.signal);
  controller.abort();
  t.equal(await aborted, 'cancelled', 'aborted while waiting');
  t.equal(await arrivals.arm([ALICE]).wait(LONG_MS, controller.signal), 'cancelled', 'aborted before waiting');
  const arrival = arrivals.arm([ALICE]);
  const signal = new AbortController().signal;
  const cancelled = arrival.wait(LONG_MS, signal);
  arrival.cancel();
  arrival.cancel();
  t.equal(await cancelled, 'cancelled', 'cancelled while waiting, twice to no harm');
  t.equal(getEventListeners(signal, 'abort').length, 0);
  arrivals.arm([BOB]).cancel();
  t.equal(arrivals.armedCount, 0, 'every one unregistered, waited on or not');
});

t.test('an arrival waits once', async (t) => {
  const arrivals = new MessageArrivals();
  const arrival = arrivals.arm([ALICE]);
  arrivals.event(received(ALICE));
  await arrival.wait(LONG_MS, new AbortController().signal);
  t.throws(() => void arrival.wait(LONG_MS, new AbortController().signal), /waits once/);
});

t.test('at most maxArmed are registered; beyond, a wait ends only after its time or when cancelled', async (t) => {
  const arrivals = new MessageArrivals({ maxArmed: 2 });
  const first = arrivals.arm([ALICE]);
  arrivals.arm([ALICE]);
  const beyond = arrivals.arm([ALICE]);
  t.equal(arrivals.armedCount, 2);
  const signal = new AbortController().signal;
  const waiting = beyond.wait(5, signal);
  arrivals.event(received(ALICE));
  t.equal(await waiting, 'elapsed', 'the arrival did not reach it');
  first.cancel();
  const again = arrivals.arm([ALICE]);
  t.equal(arrivals.armedCount, 2, 'a place freed is taken again');
  arrivals.event(received(ALICE));
  t.equal(await again.wait(LONG_MS, signal), 'arrived');
});
