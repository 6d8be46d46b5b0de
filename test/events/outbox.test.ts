import t from 'tap';
import { EventOutbox, SECURITY_EVENT_TYPES, type EventOutboxLimits } from '../../extension/events/outbox';

function outbox(limits: Partial<EventOutboxLimits> = {}, clock = { now: 0 }): EventOutbox {
  return new EventOutbox({ maxQueued: 2, maxQueuedSecurity: 2, tallyIntervalMs: 1000, ...limits }, () => clock.now);
}

t.test('keeps ordinary events in order and drops the oldest beyond capacity', async (t) => {
  const events = outbox();
  for (const n of [1, 2, 3]) events.enqueue({ type: 'p2p.test', data: { n } });
  t.same(events.takeBatch(10).map((e) => e.data['n']), [2, 3]);
  t.same(events.takeBatch(10), []);
  events.recordPublished();
  events.recordFailed();
  t.match(events.stats(), { queued: 0, published: 1, dropped: 1, failed: 1 });
});

t.test('takeBatch hands over at most the number asked for, oldest first', async (t) => {
  const events = outbox({ maxQueued: 10 });
  for (const n of [1, 2, 3, 4, 5]) events.enqueue({ type: 'p2p.test', data: { n } });
  t.same(events.takeBatch(2).map((e) => e.data['n']), [1, 2]);
  t.same(events.takeBatch(2).map((e) => e.data['n']), [3, 4]);
  t.same(events.takeBatch(2).map((e) => e.data['n']), [5]);
});

t.test('no flood of ordinary events can push a security event out, and security events go first', async (t) => {
  const events = outbox({ maxQueued: 3 });
  events.enqueue({ type: 'p2p.peer.request', subject: 'stranger', data: { request_id: 'r1' } });
  for (let n = 0; n < 10_000; n += 1) events.enqueue({ type: 'p2p.message.received', subject: 'flooder', data: { n } });
  const batch = events.takeBatch(2);
  t.same(batch[0], { type: 'p2p.peer.request', subject: 'stranger', data: { request_id: 'r1' } });
  t.equal(batch[1]?.type, 'p2p.message.received');
  t.match(events.stats(), { dropped: 10_000 - 3, dropped_security: 0 });
});

t.test('security events are coalesced per type and peer: the newest facts, in the first one’s place', async (t) => {
  const events = outbox({ maxQueuedSecurity: 4 });
  events.enqueue({ type: 'p2p.peer.key_mismatch', subject: 'a', data: { address: 'first' } });
  events.enqueue({ type: 'p2p.peer.request', subject: 'b', data: { name: 'b' } });
  events.enqueue({ type: 'p2p.peer.key_mismatch', subject: 'a', data: { address: 'second' } });
  events.enqueue({ type: 'p2p.peer.request', subject: 'a', data: { name: 'a' } });
  const batch = events.takeBatch(10);
  t.same(
    batch.map((e) => [e.type, e.subject, e.data]),
    [
      ['p2p.peer.key_mismatch', 'a', { address: 'second' }],
      ['p2p.peer.request', 'b', { name: 'b' }],
      ['p2p.peer.request', 'a', { name: 'a' }],
    ],
  );
  t.equal(events.stats().coalesced, 1);
});

t.test('a full security queue refuses new peers and counts them, keeping what it holds', async (t) => {
  const events = outbox({ maxQueuedSecurity: 2 });
  for (const peer of ['a', 'b', 'c']) events.enqueue({ type: 'p2p.peer.request', subject: peer, data: {} });
  t.same(events.takeBatch(10).map((e) => e.subject), ['a', 'b']);
  t.equal(events.stats().dropped_security, 1);
});

t.test('every trust-related event type goes to the security lane', async (t) => {
  for (const type of ['p2p.peer.request', 'p2p.peer.key_mismatch', 'p2p.peer.revoked_by_peer', 'p2p.peer.misbehaving', 'p2p.peer.paired', 'p2p.peer.revoked', 'p2p.peer.key_rotated', 'p2p.identity.rotated']) {
    t.ok(SECURITY_EVENT_TYPES.has(type), type);
  }
  t.notOk(SECURITY_EVENT_TYPES.has('p2p.message.received'));
});

t.test('tallies: one event per peer per interval, with the counts by reason and the newest details', async (t) => {
  const clock = { now: 10_000 };
  const events = outbox({ tallyIntervalMs: 1000 }, clock);
  events.tally('p2p.message.rejected', 'p', 'bad_signature', { peer: 'p', reason: 'bad_signature', message_id: '01' });
  const first = events.takeBatch(10);
  t.same(first, [
    { type: 'p2p.message.rejected', subject: 'p', data: { peer: 'p', reason: 'bad_signature', message_id: '01', count: 1, counts: { bad_signature: 1 } } },
  ]);
  for (let n = 0; n < 500; n += 1) events.tally('p2p.message.rejected', 'p', n % 2 === 0 ? 'stale_timestamp' : 'replayed_nonce', { peer: 'p', message_id: String(n) });
  events.tally('p2p.message.rejected', 'q', 'malformed', { peer: 'q' });
  t.same(events.takeBatch(10).map((e) => e.subject), ['q'], 'p had its event within the interval; q had none');
  clock.now += 1000;
  const second = events.takeBatch(10);
  t.equal(second.length, 1);
  t.same(second[0]?.data, { peer: 'p', message_id: '499', count: 500, counts: { stale_timestamp: 250, replayed_nonce: 250 } });
  t.equal(events.stats().coalesced, 499);
});
