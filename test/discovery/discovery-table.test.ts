import t from 'tap';
import { DiscoveryTable, type Announcement, type DiscoveryTableOptions } from '../../extension/discovery/discovery-table';
import { encodeTxt, type TxtRecord } from '../../extension/discovery/txt-record';
import { claimFor, claimForKey, wire } from '../helpers/txt-claims';
import { WEAK_KEYS } from '../helpers/weak-keys';

const me = claimFor(0, 'Me');
const alice = claimFor(1, 'Alice');
const bob = claimFor(2, 'Bob');

/** A table on a clock the test moves by hand, with limits generous enough not to interfere unless a test lowers them. */
function tableOn(options: Partial<DiscoveryTableOptions> = {}) {
  const clock = { ms: 1_700_000_000_000 };
  const table = new DiscoveryTable({
    ownPeerId: me.peerId,
    maxPeers: 16,
    maxTtlSeconds: 180,
    sourceRate: { burst: 1000, perSecond: 1000 },
    globalRate: { burst: 1000, perSecond: 1000 },
    now: () => clock.ms,
    ...options,
  });
  return { table, clock };
}

function heard(claim: TxtRecord, overrides: Partial<Announcement> = {}): Announcement {
  return { txt: wire(encodeTxt(claim)), source: '127.0.0.1', port: 4000, ttlSeconds: 120, ...overrides };
}

t.test('an announcement adds the node at its source address and announced port', async (t) => {
  const { table, clock } = tableOn();
  const outcome = table.announce(heard(alice, { source: '192.168.1.7', port: 5123 }));
  t.equal(outcome.accepted, true);
  t.match(table.list(), [
    {
      peerId: alice.peerId,
      fingerprint: alice.fingerprint,
      displayName: 'Alice',
      address: '192.168.1.7:5123',
      firstSeen: new Date(clock.ms),
      lastSeen: new Date(clock.ms),
      expiresAt: new Date(clock.ms + 120_000),
    },
  ]);
  t.equal(table.get(alice.peerId)?.address, '192.168.1.7:5123');
  t.equal(table.size(), 1);
  t.same(table.refusals(), {});
});

t.test('an IPv6 source is written in brackets', async (t) => {
  const { table } = tableOn();
  table.announce(heard(alice, { source: 'fe80::1', port: 5123 }));
  t.equal(table.get(alice.peerId)?.address, '[fe80::1]:5123');
});

t.test('a later announcement refreshes the entry and replaces the address; first_seen stays', async (t) => {
  const { table, clock } = tableOn();
  const first = clock.ms;
  table.announce(heard(alice));
  clock.ms += 60_000;
  table.announce(heard({ ...alice, displayName: 'Alice 2' }, { source: '10.0.0.9', port: 4001 }));
  t.match(table.get(alice.peerId), {
    displayName: 'Alice 2',
    address: '10.0.0.9:4001',
    firstSeen: new Date(first),
    lastSeen: new Date(clock.ms),
    expiresAt: new Date(clock.ms + 120_000),
  });
  t.equal(table.size(), 1);
});

t.test('entries expire at their TTL, capped by maxTtlSeconds', async (t) => {
  const { table, clock } = tableOn({ maxTtlSeconds: 300 });
  table.announce(heard(alice, { ttlSeconds: 60 }));
  table.announce(heard(bob, { ttlSeconds: 28_800 }));
  clock.ms += 59_999;
  t.equal(table.size(), 2, 'both alive just before the shorter TTL');
  clock.ms += 1;
  t.same(
    table.list().map((p) => p.peerId),
    [bob.peerId],
    'alice gone at her TTL',
  );
  clock.ms += 300_000 - 60_000 - 1;
  t.ok(table.get(bob.peerId), 'bob alive just before the cap');
  clock.ms += 1;
  t.equal(table.get(bob.peerId), undefined, 'an 8-hour TTL is cut to the 300 s cap');
});

t.test('a goodbye removes the entry it answers, not a newer announcement from elsewhere', async (t) => {
  const { table } = tableOn();
  table.announce(heard(alice, { port: 4000 }));
  table.announce(heard(alice, { port: 4001 }));
  t.equal(table.withdraw(heard(alice, { port: 4000 })), false, 'goodbye for the old address');
  t.ok(table.get(alice.peerId), 'the newer entry stays');
  t.equal(table.withdraw(heard(alice, { port: 4001 })), true);
  t.equal(table.get(alice.peerId), undefined);
  t.equal(table.withdraw(heard(bob)), false, 'goodbye for a node never heard');
  t.equal(table.withdraw({ ...heard(bob), txt: [] }), false, 'malformed goodbye');
});

t.test('our own announcement is ignored and counted', async (t) => {
  const { table } = tableOn();
  t.same(table.announce(heard(me)), { accepted: false, reason: 'own_announcement' });
  t.same(table.list(), []);
  t.same(table.refusals(), { own_announcement: 1 });
});

t.test('malformed and oversize records are dropped and counted by reason', async (t) => {
  const { table } = tableOn();
  const oversize = wire({ ...encodeTxt(alice), ...Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`x${i}`, 'p'.repeat(200)])) });
  const cases: Announcement[] = [
    { ...heard(alice), txt: oversize },
    { ...heard(alice), txt: [...wire(encodeTxt(alice)), Buffer.alloc(300, 0x61)] },
    { ...heard(alice), txt: wire({ ...encodeTxt(alice), fp: bob.fingerprint }) },
    { ...heard(alice), txt: wire({ ...encodeTxt(alice), fp: bob.fingerprint }) },
    { ...heard(alice), txt: wire({ ...encodeTxt(alice), v: '9' }) },
    { ...heard(alice), txt: wire([...Object.entries(encodeTxt(alice)), ['name', 'Mallory']]) },
    { ...heard(alice), txt: [] },
    heard(alice, { source: 'not-an-ip' }),
    heard(alice, { port: 0 }),
    heard(alice, { port: 65536 }),
    heard(alice, { ttlSeconds: 0 }),
    heard(alice, { ttlSeconds: Number.NaN }),
  ];
  for (const announcement of cases) t.equal(table.announce(announcement).accepted, false);
  t.same(table.list(), [], 'nothing was added');
  t.same(table.refusals(), {
    txt_too_large: 1,
    txt_entry_too_long: 1,
    txt_fingerprint_mismatch: 2,
    txt_unknown_version: 1,
    txt_duplicate_field: 1,
    txt_missing_field: 1,
    bad_source: 1,
    bad_port: 2,
    bad_ttl: 2,
  });
});

t.test('a flood of new ids fills the table to its cap; the rest are refused and counted, known ids still refresh', async (t) => {
  const { table, clock } = tableOn({ maxPeers: 4 });
  for (let byte = 10; byte < 20; byte += 1) table.announce(heard(claimFor(byte)));
  t.equal(table.size(), 4);
  t.same(table.refusals(), { table_full: 6 });
  clock.ms += 1000;
  const refresh = table.announce(heard(claimFor(10), { port: 4999 }));
  t.equal(refresh.accepted, true, 'an id already in the table is updated');
  t.equal(table.get(claimFor(10).peerId)?.address, '127.0.0.1:4999');
  clock.ms += 200_000;
  t.equal(table.size(), 0, 'all expired');
  t.equal(table.announce(heard(alice)).accepted, true, 'expired entries make room');
});

t.test('announcements from one source address are rate limited; other sources are not held back', async (t) => {
  const { table, clock } = tableOn({ sourceRate: { burst: 3, perSecond: 1 } });
  const outcomes = Array.from({ length: 5 }, (_, i) => table.announce(heard(claimFor(30 + i), { source: '10.0.0.66' })).accepted);
  t.same(outcomes, [true, true, true, false, false]);
  t.same(table.refusals(), { rate_limited_source: 2 });
  t.equal(table.announce(heard(alice, { source: '10.0.0.7' })).accepted, true, 'another source still gets through');
  clock.ms += 1000;
  t.equal(table.announce(heard(claimFor(40), { source: '10.0.0.66' })).accepted, true, 'one token back after a second');
  t.equal(table.announce(heard(claimFor(41), { source: '10.0.0.66' })).accepted, false);
});

t.test('announcements from all sources together are rate limited', async (t) => {
  const { table, clock } = tableOn({ globalRate: { burst: 4, perSecond: 2 } });
  const outcomes = Array.from({ length: 6 }, (_, i) => table.announce(heard(claimFor(50 + i), { source: `10.0.1.${i + 1}` })).accepted);
  t.same(outcomes, [true, true, true, true, false, false]);
  t.same(table.refusals(), { rate_limited_global: 2 });
  clock.ms += 500;
  t.equal(table.announce(heard(claimFor(60), { source: '10.0.2.1' })).accepted, true);
});

t.test('announcements of keys that stand for no one are dropped, counted by reason, and listed nowhere', async (t) => {
  const { table } = tableOn();
  for (const key of [WEAK_KEYS.small_order, WEAK_KEYS.small_order, WEAK_KEYS.non_canonical, WEAK_KEYS.not_on_curve]) {
    t.equal(table.announce(heard(claimForKey(key, 'Mallory'))).accepted, false);
  }
  t.equal(table.get(claimForKey(WEAK_KEYS.small_order, 'Mallory').peerId), undefined);
  t.same(table.list(), []);
  t.same(table.refusals(), { txt_key_small_order: 2, txt_key_non_canonical: 1, txt_key_not_on_curve: 1 });
});

t.test('rate limits apply before decoding: a flood of garbage is cut off like any other', async (t) => {
  const { table } = tableOn({ sourceRate: { burst: 2, perSecond: 1 } });
  for (let i = 0; i < 10; i += 1) table.announce({ ...heard(alice), txt: [Buffer.from('garbage')] });
  t.same(table.refusals(), { txt_entry_malformed: 2, rate_limited_source: 8 });
});

t.test('source rate limiters are bounded: beyond maxPeers sources the oldest is forgotten', async (t) => {
  const { table } = tableOn({ maxPeers: 2, sourceRate: { burst: 1, perSecond: 0.001 } });
  t.equal(table.announce(heard(alice, { source: '10.0.0.1' })).accepted, true);
  t.equal(table.announce(heard(alice, { source: '10.0.0.1' })).accepted, false, 'the first source is out of tokens');
  table.announce(heard(bob, { source: '10.0.0.2' }));
  table.announce(heard(bob, { source: '10.0.0.3' }));
  t.equal(table.announce(heard(alice, { source: '10.0.0.1' })).accepted, true, 'its limiter was evicted and starts full again');
});
