import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import t from 'tap';
import { LiveIdentity } from '../../extension/identity/live-identity';
import {
  IDENTITY_FILE_NAME,
  loadOrCreateIdentity,
  NEXT_IDENTITY_FILE_NAME,
  prepareRotation,
  recordConfirmed,
  retireExpiredKeys,
  type NodeIdentity,
} from '../../extension/identity/node-identity';
import { tempDir } from '../helpers/extension';

/**
 * The identity file has one writer at a time, and only from the state it
 * holds: an identity object from before a rotation, or a rewrite while a
 * rotation's next file waits, would otherwise bring back a replaced key
 * or an erased seed; and a next file is never removed on the word of an
 * identity file that cannot be read.
 */

const T0 = new Date('2026-01-01T00:00:00.000Z');
const HOUR_MS = 3600_000;
const PEER = 'a'.repeat(52);

function clockAt(time: Date): { now(): Date } {
  return { now: () => time };
}

function rotate(identity: NodeIdentity, time: Date): NodeIdentity {
  const prepared = prepareRotation(identity, { graceMs: HOUR_MS, clock: clockAt(time) });
  prepared.commit();
  return prepared.next;
}

function publicKeyOnDisk(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, IDENTITY_FILE_NAME), 'utf8')) as { public_key: string }).public_key;
}

t.test('an identity object from before a rotation cannot write the file back (no rollback to the replaced key)', async (t) => {
  const dir = tempDir(t);
  const once = rotate(loadOrCreateIdentity(dir, clockAt(T0)), T0);
  const twice = rotate(once, T0);
  const current = Buffer.from(twice.publicKey).toString('base64');
  t.throws(() => recordConfirmed(once, PEER, 1), { errorName: 'CONFLICT', message: /changed since this identity was loaded/ });
  t.throws(() => retireExpiredKeys(once, new Date(T0.getTime() + 2 * HOUR_MS)), { errorName: 'CONFLICT', message: /changed since/ });
  t.throws(() => prepareRotation(once, { clock: clockAt(T0) }), { errorName: 'CONFLICT', message: /changed since/ }, 'nor rotate from the replaced key');
  t.equal(publicKeyOnDisk(dir), current, 'the file still holds the current key');
  t.notOk(existsSync(join(dir, NEXT_IDENTITY_FILE_NAME)));
  t.same(loadOrCreateIdentity(dir, clockAt(T0)).publicKey, twice.publicKey);
});

t.test('no rewrite while a rotation waits: an erased seed cannot come back with the rename', async (t) => {
  const dir = tempDir(t);
  const once = rotate(loadOrCreateIdentity(dir, clockAt(T0)), T0);
  const prepared = prepareRotation(once, { graceMs: HOUR_MS, clock: clockAt(T0) });
  const afterGrace = new Date(T0.getTime() + 2 * HOUR_MS);
  t.throws(() => retireExpiredKeys(once, afterGrace), { errorName: 'CONFLICT', message: /already under way/ });
  t.throws(() => recordConfirmed(once, PEER, 1), { errorName: 'CONFLICT', message: /already under way/ });
  prepared.commit();
  // Erased now, from the state on disk: both replaced keys are past their grace.
  const later = new Date(T0.getTime() + 3 * HOUR_MS);
  const retired = retireExpiredKeys(prepared.next, later);
  t.equal(retired.retiring.length, 0);
  const file = readFileSync(join(dir, IDENTITY_FILE_NAME), 'utf8');
  t.notMatch(file, /"retiring": \[\s*\{/, 'no seed of a replaced key is left in the file');
  t.equal(loadOrCreateIdentity(dir, clockAt(later)).retiring.length, 0);
});

t.test('a next file is kept when identity.key cannot be read: it may hold the only copy of the current key', async (t) => {
  const dir = tempDir(t);
  const identity = loadOrCreateIdentity(dir, clockAt(T0));
  const prepared = prepareRotation(identity, { clock: clockAt(T0) });
  const next = readFileSync(join(dir, NEXT_IDENTITY_FILE_NAME));
  writeFileSync(join(dir, IDENTITY_FILE_NAME), '{"version":');
  t.throws(() => loadOrCreateIdentity(dir), { errorName: 'IDENTITY_UNUSABLE', message: /identity\.key\.next, which was kept/ });
  t.ok(readFileSync(join(dir, NEXT_IDENTITY_FILE_NAME)).equals(next), 'the next file is untouched');
  t.ok(prepared.next.publicKey.length === 32);
});

t.test('LiveIdentity: the parts holding it sign with the new key once the rotation is committed, not before', async (t) => {
  const dir = tempDir(t);
  const live = new LiveIdentity(loadOrCreateIdentity(dir, clockAt(T0)));
  const root = live.publicKey;
  const message = new TextEncoder().encode('who signs');
  const prepared = live.prepareRotation({ clock: clockAt(T0) });
  t.ok(live.rotationUnderWay);
  t.ok(ed25519.verify(live.sign(message), message, root), 'the root signs until the commit');
  live.recordConfirmed(PEER, 1);
  t.same(live.confirmed, {}, 'a confirmation during the swap is left for the next session');
  prepared.commit();
  t.notOk(live.rotationUnderWay);
  t.same(live.publicKey, prepared.next.publicKey);
  t.same(live.rootKey, root, 'the peer id stays');
  t.ok(ed25519.verify(live.sign(message), message, live.publicKey), 'the new key signs');
  t.notOk(ed25519.verify(live.sign(message), message, root));
  live.recordConfirmed(PEER, 1);
  t.same(live.confirmed, { [PEER]: 1 });
  t.same(loadOrCreateIdentity(dir, clockAt(T0)).confirmed, { [PEER]: 1 }, 'written from the state on disk');
  t.notOk(live.retireExpired(T0), 'nothing due yet');
  t.ok(live.retireExpired(new Date(T0.getTime() + 31 * 24 * HOUR_MS)), 'the root’s seed erased after the default grace');
  t.equal(live.retiring.length, 0);
});
