import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { TRUST_FILE_NAME, TrustStore } from '../../extension/trust/trust-store';
import { extendKeyChain, MAX_KEY_CHAIN, signRotationStatement, type RotationSigner, type RotationStatement } from '../../extension/wire/key-rotation';
import * as primitives from '../../extension/wire/primitives';
import { keyChainToText } from '../../extension/wire/stored-key-chain';
import { identityFromSeed } from '../helpers/fixed-identity';
import { tempDir } from '../helpers/extension';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const T1 = new Date('2026-02-01T00:00:00.000Z');
const T2 = new Date('2026-03-01T00:00:00.000Z');

function newSigner(): RotationSigner {
  return identityFromSeed(randomBytes(32));
}

function base64(key: Uint8Array): string {
  return Buffer.from(key).toString('base64');
}

/** A peer's keys, root first, and its chain after each rotation. */
function rotatedPeer(rotations: number): { keys: RotationSigner[]; chains: RotationStatement[][]; peerId: string } {
  const keys = [newSigner()];
  const chains: RotationStatement[][] = [[]];
  for (let i = 0; i < rotations; i += 1) {
    const next = newSigner();
    chains.push(extendKeyChain(chains[i] as RotationStatement[], keys[i] as RotationSigner, next, T0.getTime() + i));
    keys.push(next);
  }
  return { keys, chains, peerId: peerIdFromPublicKey((keys[0] as RotationSigner).publicKey) };
}

function pairedStore(dir: string, root: Uint8Array): TrustStore {
  const store = TrustStore.open(dir);
  store.trust({ publicKey: root, displayName: 'Alice', addresses: ['a.local:1'] }, T0);
  return store;
}

t.test('a chain from the root pins its last key; the peer id stays and the history grows', async (t) => {
  const dir = tempDir(t);
  const alice = rotatedPeer(2);
  const [root, second, third] = alice.keys.map((key) => key.publicKey) as [Uint8Array, Uint8Array, Uint8Array];
  const store = pairedStore(dir, root);
  t.same(store.currentKey(alice.peerId), root, 'unrotated: the key the id names');
  t.equal(store.currentKey(peerIdFromPublicKey(newSigner().publicKey)), undefined);

  const one = store.applyKeyChain(alice.peerId, alice.chains[1] as RotationStatement[], T1);
  t.ok(one.ok && one.changed);
  t.same(store.currentKey(alice.peerId), second);
  const record = store.get(alice.peerId);
  t.equal(record?.peerId, alice.peerId);
  t.same(record?.publicKey, second);
  t.same(record?.keyHistory, [
    { publicKey: root, pinnedAt: T0, retiredAt: T1 },
    { publicKey: second, pinnedAt: T1, retiredAt: null },
  ]);
  t.equal(record?.keyChain.length, 1);

  const two = store.applyKeyChain(alice.peerId, alice.chains[2] as RotationStatement[], T2);
  t.ok(two.ok && two.changed, 'extends the known chain');
  t.same(store.currentKey(alice.peerId), third);
  t.same(store.get(alice.peerId)?.keyHistory.map((pinned) => [pinned.publicKey, pinned.retiredAt]), [
    [root, T1],
    [second, T2],
    [third, null],
  ]);

  const file = JSON.parse(readFileSync(join(dir, TRUST_FILE_NAME), 'utf8')).peers[alice.peerId];
  t.equal(file.public_key, base64(third));
  t.equal(file.key_chain, keyChainToText(alice.chains[2] as RotationStatement[]));
  t.same(file.key_history, [
    { public_key: base64(root), pinned_at: T0.toISOString(), retired_at: T1.toISOString() },
    { public_key: base64(second), pinned_at: T1.toISOString(), retired_at: T2.toISOString() },
    { public_key: base64(third), pinned_at: T2.toISOString() },
  ]);

  const reopened = TrustStore.open(dir);
  t.same(reopened.get(alice.peerId), store.get(alice.peerId), 'reopening keeps the chain and the history');
  t.same(reopened.currentKey(alice.peerId), third);
  t.ok(reopened.isTrusted(alice.peerId));
});

t.test('two rotations while away: the chain of two applies at once', async (t) => {
  const alice = rotatedPeer(2);
  const store = pairedStore(tempDir(t), alice.keys[0]!.publicKey);
  const applied = store.applyKeyChain(alice.peerId, alice.chains[2] as RotationStatement[], T1);
  t.ok(applied.ok && applied.changed);
  t.same(store.currentKey(alice.peerId), alice.keys[2]!.publicKey);
  t.equal(store.get(alice.peerId)?.keyHistory.length, 2, 'the root and the key now pinned');
});

t.test('the same chain again changes nothing, not even the file', async (t) => {
  const dir = tempDir(t);
  const alice = rotatedPeer(1);
  const store = pairedStore(dir, alice.keys[0]!.publicKey);
  store.applyKeyChain(alice.peerId, alice.chains[1] as RotationStatement[], T1);
  const before = readFileSync(join(dir, TRUST_FILE_NAME));
  const again = store.applyKeyChain(alice.peerId, alice.chains[1] as RotationStatement[], T2);
  t.ok(again.ok);
  t.equal(again.ok && again.changed, false);
  t.same(readFileSync(join(dir, TRUST_FILE_NAME)), before);
});

t.test('refused chains leave the pinned key, with a reason', async (t) => {
  const dir = tempDir(t);
  const alice = rotatedPeer(2);
  const store = pairedStore(dir, alice.keys[0]!.publicKey);
  store.applyKeyChain(alice.peerId, alice.chains[2] as RotationStatement[], T1);
  const before = readFileSync(join(dir, TRUST_FILE_NAME));

  // Someone holding Alice's second key signs another successor for seq 2.
  const thief = newSigner();
  const forked = extendKeyChain(alice.chains[1] as RotationStatement[], alice.keys[1]!, thief, T2.getTime());
  const conflict = store.applyKeyChain(alice.peerId, forked, T2);
  t.match(conflict, { ok: false, refusal: 'conflict', message: /another rotation statement at seq 2/ });

  const older = store.applyKeyChain(alice.peerId, alice.chains[1] as RotationStatement[], T2);
  t.match(older, { ok: false, refusal: 'older_chain', message: /ends at key 1 of the 2 rotations/ });

  const mallory = rotatedPeer(1);
  t.match(store.applyKeyChain(alice.peerId, mallory.chains[1] as RotationStatement[], T2), { ok: false, refusal: 'other_root' });

  const tampered = (alice.chains[2] as RotationStatement[]).map((statement) => ({ ...statement }));
  tampered[1] = { ...tampered[1]!, time: tampered[1]!.time + 1 };
  t.match(store.applyKeyChain(alice.peerId, tampered, T2), { ok: false, refusal: 'invalid_bad_old_signature', message: /statement 2/ });

  t.same(store.currentKey(alice.peerId), alice.keys[2]!.publicKey);
  t.same(readFileSync(join(dir, TRUST_FILE_NAME)), before, 'nothing written');
  t.throws(() => store.applyKeyChain(mallory.peerId, mallory.chains[1] as RotationStatement[]), { errorName: 'NOT_FOUND', message: /no paired peer/ });
});

t.test('a conflicting chain is refused against an unrotated peer too: its root must be the pinned key', async (t) => {
  const alice = rotatedPeer(1);
  const store = pairedStore(tempDir(t), alice.keys[0]!.publicKey);
  const bob = rotatedPeer(1);
  t.match(store.applyKeyChain(alice.peerId, bob.chains[1] as RotationStatement[]), { ok: false, refusal: 'other_root' });
  t.same(store.get(alice.peerId)?.keyChain, []);
});

t.test('an unrotated peer is written exactly as before: no key_chain, no retired_at', async (t) => {
  const dir = tempDir(t);
  const root = newSigner().publicKey;
  const store = pairedStore(dir, root);
  store.recordSeen(peerIdFromPublicKey(root), { address: 'b.local:2' }, T1);
  store.close();
  const entry = JSON.parse(readFileSync(join(dir, TRUST_FILE_NAME), 'utf8')).peers[peerIdFromPublicKey(root)];
  t.same(Object.keys(entry), ['public_key', 'display_name', 'addresses', 'state', 'first_seen', 'last_seen', 'trusted_at', 'revoked_at', 'key_history', 'refused_keys']);
  t.same(entry.key_history, [{ public_key: base64(root), pinned_at: T0.toISOString() }]);
});

t.test('a file whose chain does not hold together is refused whole', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, TRUST_FILE_NAME);
  const alice = rotatedPeer(2);
  const store = pairedStore(dir, alice.keys[0]!.publicKey);
  store.applyKeyChain(alice.peerId, alice.chains[2] as RotationStatement[], T1);
  const good = JSON.parse(readFileSync(path, 'utf8'));
  const entry = good.peers[alice.peerId];
  const bob = rotatedPeer(1);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ key_chain: keyChainToText(alice.chains[1] as RotationStatement[]) }, /public_key of .* is not the last key of its key_chain/],
    [{ key_chain: keyChainToText(bob.chains[1] as RotationStatement[]), public_key: base64(bob.keys[1]!.publicKey) }, /key_chain of .* does not start at the key that peer id names/],
    [{ key_chain: 'AQ==' }, /key_chain of .* is not a key chain/],
    [{ key_chain: undefined }, /public_key of .* is not the key that peer id names/],
    [{ key_history: [{ ...entry.key_history[0], retired_at: 'yesterday' }] }, /retired_at/],
  ];
  for (const [fields, message] of cases) {
    writeFileSync(path, JSON.stringify({ ...good, peers: { [alice.peerId]: { ...entry, ...fields } } }), { mode: 0o600 });
    t.throws(() => TrustStore.open(dir), { errorName: 'STATE_FILE_CORRUPT', message }, String(message));
  }
});

t.test('keyOf: the current key of a peer with a record, the key its id names for one without', async (t) => {
  const dir = tempDir(t);
  const alice = rotatedPeer(2);
  const [root, , third] = alice.keys.map((key) => key.publicKey) as [Uint8Array, Uint8Array, Uint8Array];
  const store = pairedStore(dir, root);
  t.same(store.keyOf(alice.peerId), root, 'unrotated: the key the id names');
  t.ok(store.applyKeyChain(alice.peerId, alice.chains[2] as RotationStatement[], T1).ok);
  t.same(store.keyOf(alice.peerId), third, 'rotated twice: the end of the chain');
  store.revoke(alice.peerId, T2);
  t.same(store.keyOf(alice.peerId), third, 'a revoked peer keeps its last key, to check its notices with');
  const stranger = newSigner().publicKey;
  t.same(store.keyOf(peerIdFromPublicKey(stranger)), stranger, 'no record: the key the id names');
});

t.test('the known chain is compared, not verified again: a forged tail on it costs one signature check, an older copy none', async (t) => {
  const verifies = { count: 0 };
  const { TrustStore: CountingStore } = t.mockRequire<typeof import('../../extension/trust/trust-store')>('../../extension/trust/trust-store', {
    '../../extension/wire/primitives': {
      ...primitives,
      ed25519Verify: (...args: Parameters<typeof primitives.ed25519Verify>) => {
        verifies.count += 1;
        return primitives.ed25519Verify(...args);
      },
    },
  });
  const dir = tempDir(t);
  const alice = rotatedPeer(MAX_KEY_CHAIN - 1);
  const known = alice.chains[MAX_KEY_CHAIN - 1] as RotationStatement[];
  const store = CountingStore.open(dir);
  store.trust({ publicKey: alice.keys[0]!.publicKey, displayName: 'Alice', addresses: [] }, T0);
  t.ok(store.applyKeyChain(alice.peerId, known, T1).ok, 'alice’s public chain is followed');

  // Alice's chain is public (her links carry it); a stranger adds a last statement signed by no key of hers.
  const stranger = newSigner();
  const forged = [...known, signRotationStatement(alice.keys[0]!.publicKey, MAX_KEY_CHAIN, { publicKey: alice.keys.at(-1)!.publicKey, sign: stranger.sign }, stranger, T2.getTime())];
  verifies.count = 0;
  t.match(store.applyKeyChain(alice.peerId, forged, T2), { ok: false, refusal: 'invalid_bad_old_signature', message: new RegExp(`statement ${MAX_KEY_CHAIN}\\b`) });
  t.equal(verifies.count, 1, 'only the forged statement is checked');

  verifies.count = 0;
  t.match(store.applyKeyChain(alice.peerId, alice.chains[3] as RotationStatement[], T2), { ok: false, refusal: 'older_chain' });
  t.equal(verifies.count, 0, 'a beginning of the known chain is refused older without a check');

  // A fork is named a conflict only when its first differing statement verifies; a forged one is invalid.
  const thief = newSigner();
  const forkedSigned = extendKeyChain(alice.chains[2] as RotationStatement[], alice.keys[2]!, thief, T2.getTime());
  verifies.count = 0;
  t.match(store.applyKeyChain(alice.peerId, forkedSigned, T2), { ok: false, refusal: 'conflict', message: /seq 3/ });
  t.equal(verifies.count, 2, 'the two signatures of the differing statement');
  const forkedForged = [...(alice.chains[2] as RotationStatement[]), signRotationStatement(alice.keys[0]!.publicKey, 3, { publicKey: alice.keys[2]!.publicKey, sign: thief.sign }, thief, T2.getTime())];
  t.match(store.applyKeyChain(alice.peerId, forkedForged, T2), { ok: false, refusal: 'invalid_bad_old_signature' });
  t.same(store.currentKey(alice.peerId), alice.keys.at(-1)!.publicKey, 'the pinned key stays');
});
