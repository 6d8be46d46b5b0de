import * as fs from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { DEFAULT_MESSAGING_CONFIG } from '../../extension/config';
import { isValidDisplayName } from '../../extension/common/display-name';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { EventOutbox } from '../../extension/events/outbox';
import { loadOrCreateIdentity } from '../../extension/identity/node-identity';
import type { Logger } from '../../extension/log';
import { Messenger } from '../../extension/messaging/messenger';
import type { PeerNetwork } from '../../extension/network/peer-network';
import { InboxStore } from '../../extension/store/inbox';
import { OUTBOX_FILE_NAME } from '../../extension/store/outbox';
import { RecordLog } from '../../extension/store/record-log';
import { TrustStore } from '../../extension/trust/trust-store';
import { AckReason, AckStatus } from '../../extension/wire/ack';
import { signAckBatch } from '../../extension/wire/ack-batch';
import { decodeEnvelope } from '../../extension/wire/envelope';
import { MSG_ACK_BATCH, MSG_ENVELOPE } from '../../extension/wire/session-messages';
import { tempDir } from '../helpers/extension';
import { eventually } from '../helpers/node';
import { throwawayIdentity } from '../helpers/raw-peer';

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The sending side of a Messenger whose peer is online (its session stood
 * in for: envelopes sent are collected), over an outbox on a disk whose
 * writes the test holds back or fails.
 */
function sender(t: Test) {
  const disk = { failing: false, held: undefined as Promise<void> | undefined, writes: 0 };
  const realWrite = promisify(fs.write);
  const write = Object.assign(() => undefined, {
    [promisify.custom]: async (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => {
      disk.writes += 1;
      await disk.held;
      if (disk.failing) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
      return realWrite(fd, buffer, offset, length, position);
    },
  });
  const { OutboxStore: Outbox } = t.mockRequire<typeof import('../../extension/store/outbox')>('../../extension/store/outbox', {
    'node:fs': { ...fs, write },
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
  const envelopes: string[] = [];
  /** How many writes the disk had been asked for when each envelope left. */
  const writesWhenSent: number[] = [];
  const network = {
    isOnline: () => true,
    sendTo(_peerId: string, type: number, body: Uint8Array): boolean {
      if (type !== MSG_ENVELOPE) return true;
      envelopes.push(Buffer.from(decodeEnvelope(body, DEFAULT_MESSAGING_CONFIG.maxPayloadBytes).messageId).toString('hex'));
      writesWhenSent.push(disk.writes);
      return true;
    },
    refuse(): void {},
  } as unknown as PeerNetwork;
  const messenger = new Messenger({
    identity,
    trust,
    network,
    outbox,
    inbox,
    events: new EventOutbox({ maxQueued: 100, maxQueuedSecurity: 10, tallyIntervalMs: 1000 }),
    logger: quiet,
    config: DEFAULT_MESSAGING_CONFIG,
    hello: () => ({ protocolVersion: 1, agent: 'sender', capabilities: ['text'], software: 'p2p-comm/test', dhtBinding: null }),
    validAgentName: isValidDisplayName,
  });
  return {
    disk,
    outbox,
    envelopes,
    writesWhenSent,
    file: join(dir, OUTBOX_FILE_NAME),
    send: (content: string) => messenger.send({ peer: peerId, type: 'text', content, correlationId: null, ttlSeconds: null }),
    /** The peer's signed answer that it stored the message. */
    stored(messageId: string): void {
      const ack = { messageId: Buffer.from(messageId, 'hex'), status: AckStatus.STORED, reason: AckReason.NONE };
      messenger.message(peerId, MSG_ACK_BATCH, signAckBatch([ack], peer, identity.publicKey));
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
  await eventually(async () => node.envelopes.length === 1 && node.disk.writes === 1, 'the envelope to leave while the write waits');
  const messageId = node.envelopes[0] as string;
  t.same(node.writesWhenSent, [1], 'signed and sent once the write had started, so the two overlap');
  t.match(node.outbox.get(messageId), { state: 'queued' });
  t.same(recordKinds(node.file), [], 'not on disk yet');
  // The peer's answer can beat the write: its delivered state is lazy, and lands after the add.
  node.stored(messageId);
  await eventually(async () => node.outbox.get(messageId)?.state === 'delivered', 'the ack to be applied');
  t.notOk(answered, 'send waits for the write');
  release();
  t.same(await sending, { messageId, state: 'delivered' });
  t.same(recordKinds(node.file), [1], 'the add is durable; the delivered state waits for a write to ride on');
  await node.outbox.close();
  t.same(recordKinds(node.file), [1, 2], 'written at close, after the add');
});

t.test('a write that fails after the message left: send says it may still have been delivered, and the outbox drops it', async (t) => {
  const node = sender(t);
  node.disk.failing = true;
  await t.rejects(node.send('maybe'), {
    name: 'P2pError',
    errorName: 'INTERNAL_ERROR',
    message: /could not be stored in the outbox \(EIO: i\/o error, write\), but it may still have been delivered/,
  });
  t.equal(node.envelopes.length, 1, 'it had left');
  t.equal(node.outbox.get(node.envelopes[0] as string), undefined);
  t.same(node.outbox.counts(), { queued: 0, sent: 0, delivered: 0, expired: 0, failed: 0 });
});
