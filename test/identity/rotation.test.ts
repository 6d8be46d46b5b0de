import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import t from 'tap';
import { fingerprintOf, peerIdFromPublicKey } from '../../extension/common/peer-id';
import {
  DEFAULT_KEY_GRACE_MS,
  IDENTITY_FILE_NAME,
  loadOrCreateIdentity,
  NEXT_IDENTITY_FILE_NAME,
  prepareRotation,
  recordConfirmed,
  retireExpiredKeys,
  type NodeIdentity,
} from '../../extension/identity/node-identity';
import { encodeKeyChain, MAX_KEY_CHAIN, verifyKeyChain } from '../../extension/wire/key-rotation';
import { keyChainToText } from '../../extension/wire/stored-key-chain';
import { tempDir } from '../helpers/extension';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const HOUR_MS = 3600_000;

function clockAt(time: Date): { now(): Date } {
  return { now: () => time };
}

function fileOf(dir: string, name = IDENTITY_FILE_NAME): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
}

/** Rotates through both steps, as the network will around its pause. */
function rotate(identity: NodeIdentity, time: Date, graceMs = HOUR_MS): NodeIdentity {
  const prepared = prepareRotation(identity, { graceMs, clock: clockAt(time) });
  prepared.commit();
  return prepared.next;
}

function signsAs(identity: NodeIdentity, key: Uint8Array): boolean {
  const message = new TextEncoder().encode('which key signs');
  return ed25519.verify(identity.sign(message), message, key);
}

t.test('a rotation keeps the peer id, signs with a new key certified by the old one, and writes version 2', async (t) => {
  const dir = tempDir(t);
  const first = loadOrCreateIdentity(dir);
  const v1 = readFileSync(join(dir, IDENTITY_FILE_NAME));
  t.same(first.keyChain, [], 'unrotated: no chain');
  t.same(first.rootKey, first.publicKey);

  const prepared = prepareRotation(first, { graceMs: HOUR_MS, clock: clockAt(T0) });
  t.ok(existsSync(join(dir, NEXT_IDENTITY_FILE_NAME)), 'step 1 writes identity.key.next');
  t.equal(statSync(join(dir, NEXT_IDENTITY_FILE_NAME)).mode & 0o777, 0o600);
  t.same(readFileSync(join(dir, IDENTITY_FILE_NAME)), v1, 'identity.key is untouched until the commit');
  prepared.commit();
  t.notOk(existsSync(join(dir, NEXT_IDENTITY_FILE_NAME)), 'the commit renames it into place');

  const second = prepared.next;
  t.equal(second.peerId, first.peerId, 'the peer id names the root');
  t.same(second.rootKey, first.publicKey);
  t.notSame(second.publicKey, first.publicKey);
  t.equal(second.fingerprint, fingerprintOf(second.publicKey));
  t.notSame(second.dhtSeed, first.dhtSeed, 'the DHT key follows the current key');
  t.ok(signsAs(second, second.publicKey));
  t.notOk(signsAs(second, first.publicKey));
  const verdict = verifyKeyChain(second.keyChain);
  t.ok(verdict.ok && Buffer.compare(verdict.chain.currentKey, second.publicKey) === 0, 'the chain verifies and ends at the new key');
  t.equal(second.keyChain[0]?.time, T0.getTime());
  t.same(second.retiring.map((key) => [key.publicKey, key.retireAt]), [[first.publicKey, new Date(T0.getTime() + HOUR_MS)]]);
  t.same(second.retiring[0]?.dhtSeed, first.dhtSeed, 'the old DHT seed stays until retirement');

  const file = fileOf(dir);
  t.same(Object.keys(file), ['version', 'type', 'peer_id', 'seed', 'public_key', 'created_at', 'chain', 'retiring', 'confirmed']);
  t.match(file, { version: 2, type: 'ed25519', peer_id: first.peerId, public_key: Buffer.from(second.publicKey).toString('base64'), confirmed: {} });
  t.equal(file['created_at'], JSON.parse(v1.toString('utf8')).created_at, 'the creation time stays');
  t.equal(file['chain'], keyChainToText(second.keyChain));

  const reopened = loadOrCreateIdentity(dir, clockAt(T0));
  t.equal(reopened.peerId, first.peerId);
  t.same(reopened.publicKey, second.publicKey);
  t.same(reopened.keyChain.map((statement) => statement.seq), [1]);
  t.ok(signsAs(reopened, second.publicKey));

  const third = rotate(reopened, new Date(T0.getTime() + 1000));
  t.same(third.keyChain.map((statement) => statement.seq), [1, 2], 'a second rotation extends the chain');
  t.same(Buffer.from(encodeKeyChain(third.keyChain.slice(0, 1))), Buffer.from(encodeKeyChain(second.keyChain)));
  t.same(third.retiring.map((key) => key.publicKey), [first.publicKey, second.publicKey]);
  t.equal(loadOrCreateIdentity(dir, clockAt(T0)).peerId, first.peerId);
});

t.test('a version 1 file reads as it is and is never rewritten while the node does not rotate', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, IDENTITY_FILE_NAME);
  const created = loadOrCreateIdentity(dir);
  const v1 = readFileSync(path);
  t.match(JSON.parse(v1.toString('utf8')), { version: 1 });
  t.same(Object.keys(JSON.parse(v1.toString('utf8'))), ['version', 'type', 'seed', 'public_key', 'created_at'], 'no new field before a rotation');
  const later = new Date(Date.now() + 10 * 365 * 24 * HOUR_MS);
  const loaded = loadOrCreateIdentity(dir, clockAt(later));
  t.same(loaded.publicKey, created.publicKey);
  t.equal(loaded.peerId, peerIdFromPublicKey(created.publicKey));
  t.same(loaded.retiring, []);
  t.same(retireExpiredKeys(loaded, later), loaded, 'nothing to retire');
  t.same(recordConfirmed(loaded, loaded.peerId, 1), loaded, 'no rotation, nothing to confirm');
  t.same(readFileSync(path), v1, 'byte for byte');
});

t.test('a crash at each step of the rotation lands in a consistent identity', async (t) => {
  t.test('before .next is durable (a torn .next): removed, the old key stays', async (t) => {
    const dir = tempDir(t);
    const first = loadOrCreateIdentity(dir);
    prepareRotation(first, { clock: clockAt(T0) });
    const nextPath = join(dir, NEXT_IDENTITY_FILE_NAME);
    const whole = readFileSync(nextPath);
    writeFileSync(nextPath, whole.subarray(0, whole.length / 2), { mode: 0o600 });
    const reopened = loadOrCreateIdentity(dir);
    t.same(reopened.publicKey, first.publicKey);
    t.same(reopened.keyChain, []);
    t.notOk(existsSync(nextPath));
  });

  t.test('after .next, before the rename: the start completes the rotation', async (t) => {
    const dir = tempDir(t);
    const first = loadOrCreateIdentity(dir);
    const prepared = prepareRotation(first, { graceMs: HOUR_MS, clock: clockAt(T0) });
    const reopened = loadOrCreateIdentity(dir, clockAt(T0));
    t.equal(reopened.peerId, first.peerId);
    t.same(reopened.publicKey, prepared.next.publicKey);
    t.same(reopened.keyChain.length, 1);
    t.same(reopened.retiring.map((key) => key.publicKey), [first.publicKey]);
    t.notOk(existsSync(join(dir, NEXT_IDENTITY_FILE_NAME)));
    t.match(fileOf(dir), { version: 2 });
  });

  t.test('after the rename: the new key, and nothing left to complete', async (t) => {
    const dir = tempDir(t);
    const first = loadOrCreateIdentity(dir);
    const second = rotate(first, T0);
    const reopened = loadOrCreateIdentity(dir, clockAt(T0));
    t.same(reopened.publicKey, second.publicKey);
    t.same(readdirSync(dir).sort(), [IDENTITY_FILE_NAME]);
  });

  t.test('a .next that does not extend the current chain by one is removed', async (t) => {
    const dir = tempDir(t);
    const first = loadOrCreateIdentity(dir);
    const nextPath = join(dir, NEXT_IDENTITY_FILE_NAME);
    const firstFile = readFileSync(join(dir, IDENTITY_FILE_NAME));
    const second = rotate(first, T0);
    const secondFile = readFileSync(join(dir, IDENTITY_FILE_NAME));
    rotate(second, T0);
    const thirdFile = readFileSync(join(dir, IDENTITY_FILE_NAME));
    const other = tempDir(t);
    const stranger = rotate(loadOrCreateIdentity(other), T0);
    const strangerFile = readFileSync(join(other, IDENTITY_FILE_NAME));
    const cases: [string, Buffer, Buffer, NodeIdentity][] = [
      ['skips a rotation', firstFile, thirdFile, first],
      ['another identity', firstFile, strangerFile, first],
      ['not JSON', secondFile, Buffer.from('{"version":2'), second],
      ['the current file itself', secondFile, secondFile, second],
      ['an older file', secondFile, firstFile, second],
    ];
    for (const [name, current, next, expected] of cases) {
      writeFileSync(join(dir, IDENTITY_FILE_NAME), current, { mode: 0o600 });
      writeFileSync(nextPath, next, { mode: 0o600 });
      const reopened = loadOrCreateIdentity(dir, clockAt(T0));
      t.same(reopened.publicKey, expected.publicKey, `${name}: the current key stays`);
      t.same(readFileSync(join(dir, IDENTITY_FILE_NAME)), current, `${name}: identity.key untouched`);
      t.notOk(existsSync(nextPath), `${name}: .next removed`);
    }
    t.not(stranger.peerId, first.peerId, 'the stranger is another identity');
  });

  t.test('a rotation under way refuses a second one', async (t) => {
    const dir = tempDir(t);
    const first = loadOrCreateIdentity(dir);
    const prepared = prepareRotation(first, { clock: clockAt(T0) });
    t.throws(() => prepareRotation(first, { clock: clockAt(T0) }), { errorName: 'CONFLICT', message: /already under way/ });
    prepared.abandon();
    t.notOk(existsSync(join(dir, NEXT_IDENTITY_FILE_NAME)), 'abandoned: the rotation never happened');
    t.same(loadOrCreateIdentity(dir).publicKey, first.publicKey);
  });
});

t.test('a replaced key is erased at its retire time, the chain stays', async (t) => {
  const dir = tempDir(t);
  const first = loadOrCreateIdentity(dir);
  const second = rotate(first, T0, HOUR_MS);
  const seedOf = (key: NodeIdentity['publicKey']): string => Buffer.from(key).toString('base64');
  const firstSeed = (fileOf(dir)['retiring'] as { seed: string }[])[0]?.seed;
  t.ok(firstSeed !== undefined);

  const before = new Date(T0.getTime() + HOUR_MS - 1);
  t.same(retireExpiredKeys(second, before), second, 'not yet: unchanged');
  t.same(loadOrCreateIdentity(dir, clockAt(before)).retiring.length, 1, 'nor at a start before the retire time');

  const at = new Date(T0.getTime() + HOUR_MS);
  const retired = retireExpiredKeys(second, at);
  t.same(retired.retiring, []);
  t.same(retired.publicKey, second.publicKey);
  const text = readFileSync(join(dir, IDENTITY_FILE_NAME), 'utf8');
  t.notOk(text.includes(String(firstSeed)), 'the old seed is gone from the file');
  t.ok(text.includes(seedOf(second.publicKey)));
  t.same(fileOf(dir)['retiring'], []);
  t.equal(fileOf(dir)['chain'], keyChainToText(second.keyChain), 'the chain is kept');

  // A start after the retire time erases too (the node was down when it came).
  const dir2 = tempDir(t);
  rotate(loadOrCreateIdentity(dir2), T0, HOUR_MS);
  const started = loadOrCreateIdentity(dir2, clockAt(new Date(T0.getTime() + 2 * HOUR_MS)));
  t.same(started.retiring, []);
  t.same(fileOf(dir2)['retiring'], []);
});

t.test('retirement keeps the keys whose time has not come', async (t) => {
  const dir = tempDir(t);
  const second = rotate(loadOrCreateIdentity(dir), T0, HOUR_MS);
  const third = rotate(second, new Date(T0.getTime() + 1000), DEFAULT_KEY_GRACE_MS);
  const retired = retireExpiredKeys(third, new Date(T0.getTime() + 2 * HOUR_MS));
  t.same(retired.retiring.map((key) => key.publicKey), [second.publicKey]);
  t.same(loadOrCreateIdentity(dir, clockAt(new Date(T0.getTime() + 2 * HOUR_MS))).retiring.map((key) => key.publicKey), [second.publicKey]);
});

t.test('confirmed: the chain length a peer pinned, kept across restarts, never lowered', async (t) => {
  const dir = tempDir(t);
  const peer = peerIdFromPublicKey(new Uint8Array(32).fill(7));
  let identity = rotate(loadOrCreateIdentity(dir), T0);
  identity = recordConfirmed(identity, peer, 1);
  t.same(identity.confirmed, { [peer]: 1 });
  t.same(recordConfirmed(identity, peer, 1), identity, 'the same seq writes nothing');
  identity = rotate(identity, T0);
  t.same(identity.confirmed, { [peer]: 1 }, 'a rotation keeps what peers confirmed');
  t.same(loadOrCreateIdentity(dir, clockAt(T0)).confirmed, { [peer]: 1 });
});

t.test('a chain at its limit refuses a further rotation', async (t) => {
  const dir = tempDir(t);
  let identity = loadOrCreateIdentity(dir);
  for (let i = 0; i < MAX_KEY_CHAIN; i += 1) identity = rotate(identity, T0);
  t.equal(identity.keyChain.length, MAX_KEY_CHAIN);
  t.throws(() => prepareRotation(identity, { clock: clockAt(T0) }), { errorName: 'LIMIT_REACHED', message: /make a new identity/ });
  t.notOk(existsSync(join(dir, NEXT_IDENTITY_FILE_NAME)));
});

t.test('a damaged version 2 file is refused with its reason', async (t) => {
  const dir = tempDir(t);
  const first = loadOrCreateIdentity(dir);
  rotate(first, T0);
  const good = fileOf(dir);
  const otherChain = rotate(loadOrCreateIdentity(tempDir(t)), T0).keyChain;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ chain: 'not base64!' }, /its chain is not canonical base64/],
    [{ chain: keyChainToText(otherChain) }, /its chain does not start at the key its peer_id names|its public_key is not the last key/],
    [{ peer_id: peerIdFromPublicKey(otherChain[0]!.root) }, /its chain does not start at the key its peer_id names/],
    [{ public_key: good['retiring'] && (good['retiring'] as { public_key: string }[])[0]?.public_key }, /its public_key does not belong to its seed/],
    [{ retiring: 'x' }, /its retiring is not a list/],
    [{ retiring: [{ ...(good['retiring'] as object[])[0], retire_at: 'soon' }] }, /no valid retire_at/],
    [{ confirmed: { [first.peerId]: 2 } }, /its confirmed seq of .* is not 0-1/],
  ];
  for (const [fields, message] of cases) {
    writeFileSync(join(dir, IDENTITY_FILE_NAME), JSON.stringify({ ...good, ...fields }), { mode: 0o600 });
    t.throws(() => loadOrCreateIdentity(dir), { errorName: 'IDENTITY_UNUSABLE', message }, String(message));
  }
});
