import * as fs from 'node:fs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import * as atomicFile from '../../extension/common/atomic-file';
import { EventOutbox } from '../../extension/events/outbox';
import type { DhtReach } from '../../extension/network/dht-reach';
import { RotationFollow } from '../../extension/network/rotation-follow';
import type { Logger } from '../../extension/log';
import { tempDir } from '../helpers/extension';
import { eventually } from '../helpers/node';

/**
 * A rotation that fails part way never leaves the node paused, nor holding
 * another key in memory than its identity file holds: what failed may come
 * after the rename (the directory's fsync, EIO or EINVAL on some file
 * systems), and the node then goes on with the key on disk.
 */

type Failure = 'none' | 'rename' | 'after-rename' | 'after-link';

/** The identity modules over file functions that fail where a test says, after doing their work. */
function identityModules(t: Test) {
  const failing = { at: 'none' as Failure };
  const eio = () => Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
  const renameDurably = (from: string, to: string) => {
    if (failing.at === 'rename') throw Object.assign(new Error('EROFS: read-only file system, rename'), { code: 'EROFS' });
    fs.renameSync(from, to);
    if (failing.at === 'after-rename') throw eio();
  };
  const createFileAtomic = (path: string, data: string | Uint8Array, mode: number) => {
    atomicFile.createFileAtomic(path, data, mode);
    if (failing.at === 'after-link' && path.endsWith('.next')) throw eio();
  };
  const nodeIdentity = t.mockRequire<typeof import('../../extension/identity/node-identity')>('../../extension/identity/node-identity', {
    '../../extension/common/atomic-file': { ...atomicFile, renameDurably, createFileAtomic },
  });
  const { LiveIdentity } = t.mockRequire<typeof import('../../extension/identity/live-identity')>('../../extension/identity/live-identity', {
    '../../extension/identity/node-identity': nodeIdentity,
  });
  return { nodeIdentity, LiveIdentity, failing };
}

function rotatingNode(t: Test) {
  const { nodeIdentity, LiveIdentity, failing } = identityModules(t);
  const dir = tempDir(t);
  const identity = new LiveIdentity(nodeIdentity.loadOrCreateIdentity(dir));
  const network = { paused: false, pause: async () => void (network.paused = true), resume: () => void (network.paused = false) };
  const warnings: string[] = [];
  const logger: Logger = { debug: () => undefined, info: () => undefined, warn: (message: string) => void warnings.push(message), error: () => undefined };
  const dht: Pick<DhtReach, 'followIdentity'> = { followIdentity: async () => undefined };
  const outbox = new EventOutbox({ maxQueued: 100, maxQueuedSecurity: 100, tallyIntervalMs: 1000 });
  const now = { at: new Date() };
  const rotation = new RotationFollow({ identity, network, dht: dht as DhtReach, outbox, logger, now: () => now.at });
  t.teardown(() => rotation.close());
  const onDisk = () => nodeIdentity.loadOrCreateIdentity(dir).publicKey;
  return { dir, identity, network, rotation, dht, now, failing, warnings, onDisk, nextPath: join(dir, nodeIdentity.NEXT_IDENTITY_FILE_NAME) };
}

t.test('a commit that fails after the rename: the network resumes, the node holds the key on disk, and the next rotation works', async (t) => {
  const { identity, network, rotation, failing, warnings, onDisk, nextPath } = rotatingNode(t);
  const root = identity.publicKey;
  failing.at = 'after-rename';
  const result = await rotation.rotate({ graceMs: 60_000 });
  t.equal(result.seq, 1, 'the rotation took effect and says so');
  t.notOk(network.paused, 'the network takes handshakes again');
  t.notOk(identity.rotationUnderWay, 'confirmations and retirements are no longer held back');
  t.not(Buffer.compare(identity.publicKey, root), 0);
  t.same(identity.publicKey, onDisk(), 'memory and disk hold the same key');
  t.notOk(existsSync(nextPath));
  t.match(warnings, [/the new key is in place .* EIO/]);

  failing.at = 'none';
  const again = await rotation.rotate({ graceMs: 60_000 });
  t.equal(again.seq, 2, 'the next rotation is not refused as a conflict');
  t.same(identity.publicKey, onDisk());
});

t.test('a commit that fails before the rename: the network resumes, the old key stays, and no next file is left', async (t) => {
  const { identity, network, rotation, failing, onDisk, nextPath } = rotatingNode(t);
  const root = identity.publicKey;
  // The rename itself fails, as on a read-only remount.
  failing.at = 'rename';
  await t.rejects(rotation.rotate(), { message: /EROFS/ });
  t.notOk(network.paused, 'the network takes handshakes again');
  t.notOk(identity.rotationUnderWay);
  t.same(identity.publicKey, root);
  t.same(onDisk(), root);
  t.notOk(existsSync(nextPath), 'the next file removed: the rotation never happened');
});

t.test('a pause that fails: the network resumes and the next file is removed', async (t) => {
  const { identity, network, rotation, nextPath } = rotatingNode(t);
  network.pause = async () => {
    network.paused = true;
    throw new Error('closing the sessions failed');
  };
  await t.rejects(rotation.rotate(), { message: /closing the sessions failed/ });
  t.notOk(network.paused);
  t.notOk(identity.rotationUnderWay);
  t.notOk(existsSync(nextPath));
});

t.test('writing the next file fails after it was linked in place: it is removed, so the next start does not complete a rotation reported as failed', async (t) => {
  const { identity, rotation, failing, network, onDisk, nextPath } = rotatingNode(t);
  const root = identity.publicKey;
  failing.at = 'after-link';
  await t.rejects(rotation.rotate(), { errorName: 'IDENTITY_UNUSABLE', message: /cannot write the next identity key/ });
  t.notOk(existsSync(nextPath));
  t.notOk(network.paused);
  t.notOk(identity.rotationUnderWay);
  t.same(onDisk(), root, 'a start keeps the key the node holds');
});

t.test('rotate answers once the key is swapped; the DHT follows in the background, and its failure is a warning, not a rejection left unhandled', async (t) => {
  const { identity, rotation, dht, warnings } = rotatingNode(t);
  let failFollow = (): void => undefined;
  dht.followIdentity = () =>
    new Promise<void>((_resolve, reject) => {
      failFollow = () => reject(new Error('NODE_DESTROYED: node destroyed'));
    });
  const result = await rotation.rotate({ graceMs: 60_000 });
  t.equal(result.fingerprint, identity.fingerprint, 'answered while the DHT announcement is still under way');
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  failFollow();
  await eventually(async () => warnings.some((warning) => /the DHT could not follow this node's key: NODE_DESTROYED/.test(warning)), 'the failure to be logged');
  t.same(unhandled, []);
});

t.test('a retired key’s DHT address goes quiet in the background; a failure there is a warning too', async (t) => {
  const { identity, rotation, dht, warnings, now } = rotatingNode(t);
  await rotation.rotate({ graceMs: 60_000 });
  dht.followIdentity = () => Promise.reject(new Error('NODE_DESTROYED: node destroyed'));
  now.at = new Date(now.at.getTime() + 120_000);
  rotation.scheduleRetirement();
  t.equal(identity.retiring.length, 0, 'the seed is erased');
  await eventually(async () => warnings.some((warning) => /the DHT could not follow/.test(warning)), 'the failure to be logged');
});
