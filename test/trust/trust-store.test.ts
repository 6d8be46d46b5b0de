import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { UNNAMED_PEER } from '../../extension/common/display-name';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { LAST_SEEN_WRITE_INTERVAL_MS, MAX_PEER_ADDRESSES, MAX_REFUSED_KEYS, TRUST_FILE_NAME, TrustStore } from '../../extension/trust/trust-store';
import { tempDir } from '../helpers/extension';
import { eventually } from '../helpers/node';

const T0 = new Date('2025-03-01T10:00:00.000Z');

function at(minutes: number): Date {
  return new Date(T0.getTime() + minutes * 60_000);
}

function newKey(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

function base64(key: Uint8Array): string {
  return Buffer.from(key).toString('base64');
}

t.test('an absent file is an empty store, created on the first change', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, TRUST_FILE_NAME);
  const store = TrustStore.open(dir);
  t.same(store.list(), []);
  t.notOk(existsSync(path));
  const key = newKey();
  store.trust({ publicKey: key, displayName: 'Alice', addresses: ['alice.local:7070'] }, T0);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.same(JSON.parse(readFileSync(path, 'utf8')), {
    version: 1,
    peers: {
      [peerIdFromPublicKey(key)]: {
        public_key: base64(key),
        display_name: 'Alice',
        addresses: ['alice.local:7070'],
        state: 'trusted',
        first_seen: T0.toISOString(),
        last_seen: null,
        trusted_at: T0.toISOString(),
        revoked_at: null,
        key_history: [{ public_key: base64(key), pinned_at: T0.toISOString() }],
        refused_keys: [],
      },
    },
  });
});

t.test('trusted peers persist across reopening', async (t) => {
  const dir = tempDir(t);
  const store = TrustStore.open(dir);
  const alice = newKey();
  const bob = newKey();
  const record = store.trust({ publicKey: alice, displayName: 'Alice', addresses: ['10.0.0.2:7070'] }, T0);
  store.trust({ publicKey: bob, displayName: 'Bob', addresses: [] }, at(1));
  t.same(record, {
    peerId: peerIdFromPublicKey(alice),
    publicKey: alice,
    displayName: 'Alice',
    addresses: ['10.0.0.2:7070'],
    state: 'trusted',
    firstSeen: T0,
    lastSeen: null,
    trustedAt: T0,
    revokedAt: null,
    keyHistory: [{ publicKey: alice, pinnedAt: T0, retiredAt: null }],
    refusedKeys: [],
    keyChain: [],
  });
  const reopened = TrustStore.open(dir);
  t.same(reopened.get(record.peerId), record);
  t.ok(reopened.isTrusted(peerIdFromPublicKey(bob)));
  t.same(reopened.list().map((peer) => peer.displayName), ['Alice', 'Bob']);
  t.equal(reopened.get(peerIdFromPublicKey(newKey())), undefined);
  t.notOk(reopened.isTrusted(peerIdFromPublicKey(newKey())));
});

t.test('revoke, then trust again after a new pairing', async (t) => {
  const dir = tempDir(t);
  const store = TrustStore.open(dir);
  const key = newKey();
  const peerId = peerIdFromPublicKey(key);
  store.trust({ publicKey: key, displayName: 'Alice', addresses: ['a.local:1'] }, T0);
  const revoked = store.revoke(peerId, at(5));
  t.equal(revoked.state, 'revoked');
  t.same(revoked.revokedAt, at(5));
  t.notOk(store.isTrusted(peerId));
  t.same(store.revoke(peerId, at(6)).revokedAt, at(5), 'revoking again keeps the first revocation time');
  t.notOk(TrustStore.open(dir).isTrusted(peerId), 'the revocation is on disk');

  const again = store.trust({ publicKey: key, displayName: 'Alice 2', addresses: ['b.local:2'] }, at(10));
  t.equal(again.state, 'trusted');
  t.same(again.trustedAt, at(10));
  t.equal(again.revokedAt, null);
  t.same(again.firstSeen, T0);
  t.equal(again.displayName, 'Alice 2');
  t.same(again.addresses, ['b.local:2', 'a.local:1']);
  t.same(again.keyHistory, [{ publicKey: key, pinnedAt: T0, retiredAt: null }]);
  t.ok(TrustStore.open(dir).isTrusted(peerId));
});

t.test('revoked by the peer: listed apart from trusted, kept on disk, and trusted again only by a new pairing', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, TRUST_FILE_NAME);
  const store = TrustStore.open(dir);
  const key = newKey();
  const peerId = peerIdFromPublicKey(key);
  store.trust({ publicKey: key, displayName: 'Alice', addresses: ['a.local:1'] }, T0);

  const ended = store.markRevokedByPeer(peerId, at(5));
  t.match(ended, { state: 'revoked_by_peer', revokedAt: at(5), trustedAt: T0, displayName: 'Alice' });
  t.notOk(store.isTrusted(peerId));
  t.match(JSON.parse(readFileSync(path, 'utf8')).peers[peerId], { state: 'revoked_by_peer', revoked_at: at(5).toISOString() });
  t.same(TrustStore.open(dir).get(peerId), ended, 'round trip through the file');
  t.same(store.markRevokedByPeer(peerId, at(6)).revokedAt, at(5), 'told again: the first time stays');

  const again = store.trust({ publicKey: key, displayName: 'Alice', addresses: [] }, at(10));
  t.match(again, { state: 'trusted', trustedAt: at(10), revokedAt: null, firstSeen: T0 });

  store.revoke(peerId, at(20));
  t.match(store.markRevokedByPeer(peerId, at(21)), { state: 'revoked', revokedAt: at(20) }, 'our own revocation is not overwritten');

  store.trust({ publicKey: key, displayName: 'Alice', addresses: [] }, at(30));
  store.markRevokedByPeer(peerId, at(31));
  t.match(store.revoke(peerId, at(32)), { state: 'revoked', revokedAt: at(32) }, 'revoking a peer that revoked us makes it ours');
  t.throws(() => store.markRevokedByPeer(peerIdFromPublicKey(newKey())), { name: 'P2pError', errorName: 'NOT_FOUND' });
});

t.test('a file written before revoked_by_peer existed still loads as it is', async (t) => {
  const dir = tempDir(t);
  const trusted = newKey();
  const revoked = newKey();
  const entry = (key: Uint8Array, state: string, revokedAt: string | null) => ({
    public_key: base64(key),
    display_name: 'Old',
    addresses: [],
    state,
    first_seen: T0.toISOString(),
    last_seen: null,
    trusted_at: T0.toISOString(),
    revoked_at: revokedAt,
    key_history: [{ public_key: base64(key), pinned_at: T0.toISOString() }],
    refused_keys: [],
  });
  writeFileSync(
    join(dir, TRUST_FILE_NAME),
    JSON.stringify({
      version: 1,
      peers: { [peerIdFromPublicKey(trusted)]: entry(trusted, 'trusted', null), [peerIdFromPublicKey(revoked)]: entry(revoked, 'revoked', at(1).toISOString()) },
    }),
  );
  const store = TrustStore.open(dir);
  t.same(store.list().map((peer) => [peer.state, peer.revokedAt]), [['trusted', null], ['revoked', at(1)]]);
});

t.test('unknown peers are NOT_FOUND', async (t) => {
  const store = TrustStore.open(tempDir(t));
  const peerId = peerIdFromPublicKey(newKey());
  t.throws(() => store.revoke(peerId), { name: 'P2pError', errorName: 'NOT_FOUND', message: new RegExp(`no paired peer has the peer id ${peerId}`) });
  t.throws(() => store.recordSeen(peerId, {}), { name: 'P2pError', errorName: 'NOT_FOUND' });
  t.throws(() => store.recordRefusedKey(peerId, newKey(), null), { name: 'P2pError', errorName: 'NOT_FOUND' });
});

t.test('seen updates last_seen, the address list (bounded, most recent first) and the name', async (t) => {
  const dir = tempDir(t);
  const store = TrustStore.open(dir);
  const key = newKey();
  const peerId = peerIdFromPublicKey(key);
  store.trust({ publicKey: key, displayName: 'Alice', addresses: ['h0:1', 'h0:1'] }, T0);
  t.same(store.get(peerId)?.addresses, ['h0:1'], 'duplicates are dropped');
  for (let i = 1; i <= 9; i += 1) store.recordSeen(peerId, { address: `h${i}:1` }, at(i));
  t.same(store.get(peerId)?.addresses, ['h9:1', 'h8:1', 'h7:1', 'h6:1', 'h5:1', 'h4:1', 'h3:1', 'h2:1']);
  const seen = store.recordSeen(peerId, { address: 'h4:1', displayName: 'Alice (laptop)' }, at(20));
  t.equal(seen.addresses.length, MAX_PEER_ADDRESSES);
  t.same(seen.addresses, ['h4:1', 'h9:1', 'h8:1', 'h7:1', 'h6:1', 'h5:1', 'h3:1', 'h2:1']);
  t.same(seen.lastSeen, at(20));
  t.equal(seen.displayName, 'Alice (laptop)');
  store.close();
  t.same(TrustStore.open(dir).get(peerId), seen);
  t.throws(() => store.recordSeen(peerId, { displayName: 'evil\u202e' }), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  t.throws(() => store.recordSeen(peerId, { address: 'not an address' }), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  t.same(store.get(peerId), seen, 'refused updates change nothing in memory');
  store.close();
  t.same(TrustStore.open(dir).get(peerId), seen, 'nor on disk');
});

t.test('a peer keeps one DHT address, the newest, beside its direct ones', async (t) => {
  const store = TrustStore.open(tempDir(t));
  const key = newKey();
  const peerId = peerIdFromPublicKey(key);
  const dht = (n: number): string => `dht:${String(n).repeat(64).slice(0, 64)}`;
  store.trust({ publicKey: key, displayName: 'Alice', addresses: ['h0:1', dht(1)] }, T0);
  for (let i = 2; i <= 20; i += 1) store.recordSeen(peerId, { address: dht(i % 10) }, at(i));
  t.same(store.get(peerId)?.addresses, [dht(0), 'h0:1'], 'each new DHT key replaced the last; the direct address stayed');
  store.recordSeen(peerId, { address: 'h1:1' }, at(30));
  t.same(store.get(peerId)?.addresses, ['h1:1', dht(0), 'h0:1']);
  t.throws(() => store.recordSeen(peerId, { address: 'dht:ABC' }), { name: 'P2pError', errorName: 'INVALID_INPUT' }, 'only 64 lower-case hex digits');
});

t.test('a refused key is kept as evidence (the 16 most recent) and never replaces the pinned key', async (t) => {
  const dir = tempDir(t);
  const store = TrustStore.open(dir);
  const key = newKey();
  const peerId = peerIdFromPublicKey(key);
  store.trust({ publicKey: key, displayName: 'Alice', addresses: [] }, T0);
  const impostors = Array.from({ length: 20 }, newKey);
  impostors.forEach((impostor, i) => store.recordRefusedKey(peerId, impostor, i % 2 === 0 ? `x${i}:9` : null, at(i)));
  const record = TrustStore.open(dir).get(peerId);
  t.same(record?.publicKey, key);
  t.equal(record?.state, 'trusted');
  t.same(record?.keyHistory, [{ publicKey: key, pinnedAt: T0, retiredAt: null }]);
  t.equal(record?.refusedKeys.length, MAX_REFUSED_KEYS);
  t.same(record?.refusedKeys[0], { publicKey: impostors[4], seenAt: at(4), address: 'x4:9' });
  t.same(record?.refusedKeys[MAX_REFUSED_KEYS - 1], { publicKey: impostors[19], seenAt: at(19), address: null });
  t.throws(() => store.recordRefusedKey(peerId, new Uint8Array(31), null), { name: 'P2pError', errorName: 'INVALID_INPUT' });
});

t.test('a damaged trust store is refused, named, and left untouched', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, TRUST_FILE_NAME);
  const key = newKey();
  const peerId = peerIdFromPublicKey(key);
  TrustStore.open(dir).trust({ publicKey: key, displayName: 'Alice', addresses: ['a:1'] }, T0);
  const valid = JSON.parse(readFileSync(path, 'utf8')) as { peers: Record<string, Record<string, unknown>> };
  const entry = valid.peers[peerId] ?? {};
  const withEntry = (changes: Record<string, unknown>, id = peerId): string =>
    JSON.stringify({ version: 1, peers: { [id]: { ...entry, ...changes } } });
  const { state: _state, ...withoutState } = entry;
  const cases: [string, RegExp][] = [
    ['{"version":1,"peers":', /it is not valid JSON/],
    [JSON.stringify({ ...valid, version: 2 }), /\/version must be 1\./],
    [JSON.stringify({ version: 1 }), /the top level is missing the required field "peers"/],
    [withEntry({}, peerId.toUpperCase()), new RegExp(`/peers has a key "${peerId.toUpperCase()}" that must match pattern`)],
    [JSON.stringify({ version: 1, peers: { [peerId]: withoutState } }), new RegExp(`/peers/${peerId} is missing the required field "state"`)],
    [withEntry({ state: 'maybe' }), /\/state must be one of "trusted", "revoked", "revoked_by_peer"/],
    [withEntry({ first_seen: 'yesterday' }), /\/first_seen is not in the expected format/],
    [withEntry({ addresses: Array.from({ length: 9 }, (_, i) => `h${i}:1`) }), /\/addresses must NOT have more than 8 items/],
    [withEntry({ public_key: base64(newKey()) }), new RegExp(`the public_key of ${peerId} is not the key that peer id names`)],
    [withEntry({ extra: true }), /unexpected field "extra"/],
  ];
  for (const [content, reason] of cases) {
    writeFileSync(path, content);
    t.throws(() => TrustStore.open(dir), { name: 'P2pError', errorName: 'STATE_FILE_CORRUPT', message: reason }, reason.source);
    t.throws(() => TrustStore.open(dir), {
      message: new RegExp(`^the trust store ${path} is corrupt: .*p2p-comm never resets it silently: fix the file, or move it away`),
    });
    t.equal(readFileSync(path, 'utf8'), content, 'the file is left untouched');
  }
});

t.test('a name the legacy rule allowed is shown as unnamed peer, said so, and written back; other damage still stops', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, TRUST_FILE_NAME);
  const [alice, bob, carol] = [newKey(), newKey(), newKey()];
  const store = TrustStore.open(dir);
  store.trust({ publicKey: alice, displayName: 'Alice', addresses: ['a:1'] }, T0);
  store.trust({ publicKey: bob, displayName: 'Bob', addresses: ['b:1'] }, T0);
  store.trust({ publicKey: carol, displayName: 'Carol', addresses: ['c:1'] }, T0);
  const file = JSON.parse(readFileSync(path, 'utf8')) as { peers: Record<string, Record<string, unknown>> };
  const entryOf = (key: Uint8Array) => file.peers[peerIdFromPublicKey(key)] as Record<string, unknown>;
  entryOf(alice)['display_name'] = 'Ali\u200bce';
  entryOf(bob)['display_name'] = 'csi\u009b2J';
  writeFileSync(path, JSON.stringify(file));

  const reopened = TrustStore.open(dir);
  t.equal(reopened.get(peerIdFromPublicKey(alice))?.displayName, UNNAMED_PEER);
  t.equal(reopened.get(peerIdFromPublicKey(bob))?.displayName, UNNAMED_PEER);
  t.equal(reopened.get(peerIdFromPublicKey(carol))?.displayName, 'Carol', 'a valid name is kept');
  t.equal(reopened.isTrusted(peerIdFromPublicKey(alice)), true, 'trust is kept');
  t.equal(reopened.upgradeNotes.length, 1);
  t.match(reopened.upgradeNotes[0], new RegExp(`^the trust store ${path}: 2 stored display name\\(s\\) held zero-width, C1 control or other invisible characters`));
  t.match(reopened.upgradeNotes[0], new RegExp(`${peerIdFromPublicKey(alice)}.*shown as "unnamed peer".*the file was rewritten$`));
  t.notMatch(reopened.upgradeNotes[0], /[\u200b\u009b]/, 'the refused names are not repeated');
  const rewritten = JSON.parse(readFileSync(path, 'utf8')) as typeof file;
  t.equal(rewritten.peers[peerIdFromPublicKey(alice)]?.['display_name'], UNNAMED_PEER);
  t.same(TrustStore.open(dir).upgradeNotes, [], 'said once');

  entryOf(alice)['display_name'] = 'Ali\u200bce';
  entryOf(carol)['state'] = 'maybe';
  const damaged = JSON.stringify(file);
  writeFileSync(path, damaged);
  t.throws(() => TrustStore.open(dir), { errorName: 'STATE_FILE_CORRUPT', message: /\/state must be one of/ });
  t.equal(readFileSync(path, 'utf8'), damaged, 'a damaged file is left untouched, legacy name and all');

  entryOf(carol)['state'] = 'trusted';
  entryOf(alice)['display_name'] = 'bell\u0007';
  writeFileSync(path, JSON.stringify(file));
  t.throws(() => TrustStore.open(dir), { errorName: 'STATE_FILE_CORRUPT', message: /display_name is not in the expected format/ }, 'a C0 control was never allowed');
});

t.test('a bare reconnection within a minute updates last_seen in memory, not on disk', async (t) => {
  const read = readFileSync;
  const joinPath = join;
  const dir = tempDir(t);
  const store = TrustStore.open(dir, { seenWriteDelayMs: 0 });
  const key = new Uint8Array(randomBytes(32));
  const peerId = peerIdFromPublicKey(key);
  store.trust({ publicKey: key, displayName: 'p', addresses: ['127.0.0.1:1'] });
  const start = new Date('2026-01-01T00:00:00.000Z');
  store.recordSeen(peerId, { address: '127.0.0.1:1' }, start);
  const lastSeenOnDisk = (): number | undefined => TrustStore.open(dir).get(peerId)?.lastSeen?.getTime();
  await eventually(async () => lastSeenOnDisk() === start.getTime(), 'the first connection on disk');
  const written = read(joinPath(dir, TRUST_FILE_NAME), 'utf8');
  const soon = new Date(start.getTime() + 1000);
  t.equal(store.recordSeen(peerId, { address: '127.0.0.1:1' }, soon).lastSeen?.getTime(), soon.getTime(), 'memory has the new time');
  store.close();
  t.equal(read(joinPath(dir, TRUST_FILE_NAME), 'utf8'), written, 'the file was not rewritten, not even at close');
  store.recordSeen(peerId, { address: '127.0.0.1:2' }, soon);
  await eventually(async () => TrustStore.open(dir).get(peerId)?.addresses[0] === '127.0.0.1:2', 'the new address on disk');
  const later = new Date(soon.getTime() + LAST_SEEN_WRITE_INTERVAL_MS + 1);
  store.recordSeen(peerId, {}, later);
  await eventually(async () => lastSeenOnDisk() === later.getTime(), 'a stale time on disk refreshed');
  t.ok(statSync(joinPath(dir, TRUST_FILE_NAME)).isFile());
});

t.test('the connections of many peers wait for one write that takes them all', async (t) => {
  const dir = tempDir(t);
  const store = TrustStore.open(dir, { seenWriteDelayMs: 60_000 });
  const peerIds = Array.from({ length: 50 }, (_, index) => store.trust({ publicKey: newKey(), displayName: `peer ${index}`, addresses: [] }, T0).peerId);
  const beforeConnections = readFileSync(join(dir, TRUST_FILE_NAME), 'utf8');
  peerIds.forEach((peerId, index) => store.recordSeen(peerId, { address: `10.0.0.${index}:7070`, displayName: `peer ${index} (laptop)` }, at(1)));
  t.equal(readFileSync(join(dir, TRUST_FILE_NAME), 'utf8'), beforeConnections, 'no write per connection');
  t.same(store.get(peerIds[7] ?? '')?.addresses, ['10.0.0.7:7070'], 'memory has them at once');
  store.close();
  const reopened = TrustStore.open(dir);
  t.same(
    peerIds.map((peerId) => reopened.get(peerId)),
    peerIds.map((peerId) => store.get(peerId)),
    'one write at close took every connection',
  );
});

t.test('any other change takes the pending connections along', async (t) => {
  const dir = tempDir(t);
  const store = TrustStore.open(dir, { seenWriteDelayMs: 60_000 });
  const alice = store.trust({ publicKey: newKey(), displayName: 'Alice', addresses: [] }, T0).peerId;
  store.recordSeen(alice, { address: 'alice.local:7070' }, at(1));
  const bob = store.trust({ publicKey: newKey(), displayName: 'Bob', addresses: [] }, at(2)).peerId;
  const reopened = TrustStore.open(dir);
  t.same(reopened.get(alice)?.addresses, ['alice.local:7070']);
  t.ok(reopened.isTrusted(bob));
});

t.test('a delayed write that fails is reported, and the next connection tries again', async (t) => {
  const dir = tempDir(t);
  const failures: Error[] = [];
  const store = TrustStore.open(dir, { seenWriteDelayMs: 0, onSeenWriteError: (error) => failures.push(error) });
  const peerId = store.trust({ publicKey: newKey(), displayName: 'Alice', addresses: [] }, T0).peerId;
  const path = join(dir, TRUST_FILE_NAME);
  // A directory where the file should be: the atomic rename over it fails.
  rmSync(path);
  mkdirSync(path);
  store.recordSeen(peerId, { address: 'alice.local:7070' }, at(1));
  await eventually(async () => failures.length === 1, 'the failure reported');
  t.equal(store.get(peerId)?.addresses[0], 'alice.local:7070', 'memory kept the connection');
  rmSync(path, { recursive: true });
  // Only a second later: a bare reconnection, which alone would not be written.
  const again = new Date(at(1).getTime() + 1000);
  store.recordSeen(peerId, {}, again);
  await eventually(async () => existsSync(path) && TrustStore.open(dir).get(peerId)?.lastSeen?.getTime() === again.getTime(), 'the retried write');
  t.same(TrustStore.open(dir).get(peerId)?.addresses, ['alice.local:7070'], 'with the connection whose write had failed');
  t.equal(failures.length, 1);
});
