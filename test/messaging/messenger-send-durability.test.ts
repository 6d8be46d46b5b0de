import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { loadOrCreateIdentity } from '../../extension/identity/node-identity';
import type { PeerNetwork } from '../../extension/network/peer-network';
import { InboxStore } from '../../extension/store/inbox';
import { OUTBOX_FILE_NAME } from '../../extension/store/outbox';
import { RecordLog } from '../../extension/store/record-log';
import { TrustStore } from '../../extension/trust/trust-store';
import { signReceipt } from '../../extension/wire/receipt';
import { MSG_BATCH, MSG_RECEIPT } from '../../extension/wire/session-messages';
import { decodeBatch } from '../../extension/wire/signed-batch';
import { tempDir } from '../helpers/extension';
import { testMessenger } from '../helpers/messenger';
import { eventually } from '../helpers/node';
import { throwawayIdentity } from '../helpers/raw-peer';


/**
 * The sending side of a Messenger whose peer is online (its session stood
 * in for: the ids of the batches sent are collected), over an outbox on a
 * disk whose writes the test holds back or fails. Its sending side in
 * general is tested in messenger-send.test.ts.
 */
function sender(t: Test) {
  const disk = { failing: false, held: undefined as Promise<void> | undefined, writes: 0 };
  const realWritev = promisify(fs.writev);
  const writev = Object.assign(() => undefined, {
    [promisify.custom]: async (fd: number, buffers: readonly Uint8Array[], position: number) => {
      disk.writes += 1;
      await disk.held;
      if (disk.failing) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
      return realWritev(fd, buffers, position);
    },
  });
  const { OutboxStore: Outbox } = t.mockRequire<typeof import('../../extension/store/outbox')>('../../extension/store/outbox', {
    'node:fs': { ...fs, writev },
  });
  const dir = tempDir(t);
  const identity = loadOrCreateIdentity(dir);
  const trust = TrustStore.open(dir);
  const outbox = Outbox.open(dir, { lazyFlushMs: 60_000 });
  const inbox = InboxStore.open(dir);
  t.teardown(() => Promise.all([inbox.close(), outbox.close().catch(() => undefined)]));
  const peer = throwawayIdentity();
  const peerId = peerIdFromPublicKey(peer.publicKey);
  trust.trust({ publicKey: peer.publicKey, displayName: 'bob', addresses: [] });
  const session = randomBytes(32);
  const sent: string[] = [];
  /** How many writes the disk had been asked for when each message left. */
  const writesWhenSent: number[] = [];
  let batches = 0;
  const network = {
    isOnline: () => true,
    sessionIdOf: () => session,
    sendTo(_peerId: string, type: number, body: Uint8Array | readonly Uint8Array[]): boolean {
      if (type !== MSG_BATCH) return true;
      batches += 1;
      for (const leaf of decodeBatch(Buffer.concat(body instanceof Uint8Array ? [body] : body)).leaves) {
        sent.push(Buffer.from(leaf.subarray(0, 16)).toString('hex'));
        writesWhenSent.push(disk.writes);
      }
      return true;
    },
    refuse(): void {},
  } as unknown as PeerNetwork;
  const messenger = testMessenger({ identity, trust, network, outbox, inbox }, 'sender');
  return {
    disk,
    outbox,
    sent,
    writesWhenSent,
    file: join(dir, OUTBOX_FILE_NAME),
    send: (content: string) => messenger.send({ peer: peerId, type: 'text', content, correlationId: null, ttlSeconds: null }),
    /** The session ends and a new one opens. */
    reconnect(): void {
      messenger.closed(peerId);
      messenger.opened(peerId);
    },
    /** The peer's signed receipt: every batch sent so far is stored. */
    storedAll(): void {
      messenger.message(peerId, MSG_RECEIPT, signReceipt({ firstBatch: 0, lastBatch: batches - 1, exceptions: [] }, peer, identity.publicKey, session));
    },
  };
}

/** Holds every write until the returned function is called. */
function holdWrites(disk: { held: Promise<void> | undefined }): () => void {
  let release!: () => void;
  disk.held = new Promise((resolve) => {
    release = resolve;
  });
  return () => {
    disk.held = undefined;
    release();
  };
}

function recordKinds(file: string): number[] {
  return RecordLog.open(file, { maxRecordBytes: 1 << 21 }).records.map((record) => record[0] as number);
}

t.test('send signs and sends the message while its outbox record is written, and answers once it is durable', async (t) => {
  const node = sender(t);
  const release = holdWrites(node.disk);
  let answered = false;
  const sending = node.send('overlapped').then((result) => {
    answered = true;
    return result;
  });
  await eventually(async () => node.sent.length === 1 && node.disk.writes === 1, 'the message to leave while the write waits');
  const messageId = node.sent[0] as string;
  t.same(node.writesWhenSent, [1], 'signed and sent once the write had started, so the two overlap');
  t.match(node.outbox.get(messageId), { state: 'queued' });
  t.same(recordKinds(node.file), [], 'not on disk yet');
  // The peer's answer can beat the write: its delivered state is lazy, and lands after the add.
  node.storedAll();
  await eventually(async () => node.outbox.get(messageId)?.state === 'delivered', 'the receipt to be applied');
  t.notOk(answered, 'send waits for the write');
  release();
  t.same(await sending, { messageId, state: 'delivered', size: Buffer.byteLength('overlapped') });
  t.same(recordKinds(node.file), [1], 'the add is durable; the delivered state waits for a write to ride on');
  await node.outbox.close();
  t.same(recordKinds(node.file), [1, 4], 'written at close, after the add');
});

t.test('a write that fails after the message left: send says it may still have been delivered, and the outbox drops it', async (t) => {
  const node = sender(t);
  const release = holdWrites(node.disk);
  node.disk.failing = true;
  const sending = node.send('maybe');
  await eventually(async () => node.sent.length === 1, 'the message to leave while the write waits');
  release();
  await t.rejects(sending, {
    name: 'P2pError',
    errorName: 'INTERNAL_ERROR',
    message: /could not be stored in the outbox \(EIO: i\/o error, write\), but it may still have been delivered/,
  });
  t.equal(node.sent.length, 1, 'it had left');
  t.equal(node.outbox.get(node.sent[0] as string), undefined);
  t.same(node.outbox.counts(), { queued: 0, sent: 0, delivered: 0, expired: 0, failed: 0 });
});

t.test('a write that fails before the message left: send answers with the storage error alone', async (t) => {
  const node = sender(t);
  node.disk.failing = true;
  const error = await node.send('never left').then(
    () => null,
    (failure: Error) => failure,
  );
  t.match(error?.message, /EIO: i\/o error, write/);
  t.notMatch(error?.message, /may still have been delivered/);
  t.same(node.sent, [], 'nothing left');
  t.same(node.outbox.counts(), { queued: 0, sent: 0, delivered: 0, expired: 0, failed: 0 });
});

t.test('a write that fails after the message left on a session since replaced: send still says it may have been delivered', async (t) => {
  const node = sender(t);
  const release = holdWrites(node.disk);
  node.disk.failing = true;
  const sending = node.send('left on the first session');
  await eventually(async () => node.sent.length === 1, 'the message to leave while the write waits');
  // The new session offers it again: it waits in the peer's line once more when the write fails.
  node.reconnect();
  release();
  await t.rejects(sending, { name: 'P2pError', errorName: 'INTERNAL_ERROR', message: /but it may still have been delivered/ });
  t.equal(node.outbox.get(node.sent[0] as string), undefined);
});
