import { createHash, randomBytes } from 'node:crypto';
import { existsSync, openSync, symlinkSync, readdirSync, readFileSync, closeSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { linkIntoIncoming, partFilePath, prepareFileFolders } from '../../extension/files/file-folders';
import { DEFAULT_FILE_RECEIVER_CONFIG, FileReceiver, type FileReceiverConfig } from '../../extension/files/file-receiver';
import { type Transfer, type TransferLimits, TransferStore } from '../../extension/files/transfer-store';
import { encodeContent } from '../../extension/messaging/payload';
import { InboxStore } from '../../extension/store/inbox';
import type { FileControl } from '../../extension/wire/file-payload';
import { tempDir } from '../helpers/extension';
import { quietLogger } from '../helpers/messenger';

const START = Date.parse('2026-11-30T10:00:00.000Z');
const MAX_PAYLOAD = 1024 * 1024;
const KIB = 1024;
const CHUNK = 64 * KIB;

const newPeer = (): string => peerIdFromPublicKey(new Uint8Array(randomBytes(32)));
const newId = (): string => randomBytes(16).toString('hex');
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

interface SentControl {
  peer: string;
  transferId: string;
  control: FileControl;
}

interface Event {
  type: string;
  data: Record<string, unknown>;
}

/**
 * A receiver on a real inbox, transfer journal and folders in a temporary
 * data directory, with a fake messenger recording the controls sent; the
 * stores and the receiver can be closed and opened again, as a restart.
 */
function setUp(t: Test, options: { limits?: Partial<TransferLimits>; config?: Partial<FileReceiverConfig> } = {}) {
  const dir = tempDir(t);
  const clock = { ms: START };
  const peer = newPeer();
  const sent: SentControl[] = [];
  const events: Event[] = [];
  const refusals: { reason: string; charged: boolean }[] = [];
  const outgoingControls: { transferId: string; control: FileControl }[] = [];
  const config = { ...DEFAULT_FILE_RECEIVER_CONFIG, freeSpaceMarginBytes: 0, ...options.config };
  /** Whether the peer is paired; a test ends the pairing by setting it false. */
  const paired = { now: true };

  const open = () => {
    const inbox = InboxStore.open(dir, {}, () => clock.ms);
    const transfers = TransferStore.open(dir, options.limits ?? {}, () => clock.ms);
    const folders = prepareFileFolders(dir);
    const receiver = new FileReceiver({
      inbox,
      transfers,
      folders,
      messenger: {
        send: async (request) => {
          sent.push({ peer: request.peer, transferId: request.correlationId, control: request.content });
          return { messageId: newId() };
        },
      },
      events: { enqueue: (event) => events.push({ type: event.type, data: event.data }) },
      peers: () => [peer],
      isPaired: () => paired.now,
      refuse: (peerId, reason, charged) => {
        t.equal(peerId, peer, 'refusals name the peer');
        refusals.push({ reason, charged });
      },
      outgoingControl: async (peerId, transferId, control) => {
        t.equal(peerId, peer);
        outgoingControls.push({ transferId, control });
      },
      logger: quietLogger,
      config,
      now: () => clock.ms,
    });
    return { inbox, transfers, folders, receiver };
  };

  const h = {
    dir,
    clock,
    peer,
    sent,
    events,
    refusals,
    outgoingControls,
    paired,
    ...open(),
    /** Closes everything, as a stop; nothing is started again until `start`. */
    async stop(): Promise<void> {
      await h.receiver.close();
      await h.inbox.close();
      await h.transfers.close();
    },
    /** Opens everything again and starts the receiver, as after a crash; resolves once it has taken what was waiting. */
    async start(): Promise<void> {
      Object.assign(h, open());
      h.receiver.start();
      await h.receiver.whenIdle();
    },
    /** Stores a message from the peer as the network would, and waits until the receiver has taken it. */
    async arrive(type: 'file_offer' | 'file_control' | 'file_chunk', content: unknown, options: { messageId?: string; correlationId?: string | null; wait?: boolean } = {}): Promise<void> {
      await h.inbox.add({
        messageId: options.messageId ?? newId(),
        peerId: peer,
        type,
        correlationId: options.correlationId ?? null,
        content: encodeContent(type, content, MAX_PAYLOAD),
        digest: new Uint8Array(randomBytes(16)),
        proof: new Uint8Array(randomBytes(64)),
        sentAt: new Date(clock.ms),
      });
      if (options.wait !== false) await h.receiver.whenIdle();
    },
    /** Offers `data` as `name`; returns the transfer id (the offer's message id). */
    async offer(data: Uint8Array, name = 'report.pdf', chunkSize = CHUNK, extra: { sha256?: string; wait?: boolean } = {}): Promise<string> {
      const transferId = newId();
      await h.arrive(
        'file_offer',
        { name, size: data.length, sha256: extra.sha256 ?? sha256(data), chunkSize, mediaType: 'application/pdf', description: null },
        { messageId: transferId, correlationId: 'task-7', ...(extra.wait === undefined ? {} : { wait: extra.wait }) },
      );
      return transferId;
    },
    async chunk(transferId: string, index: number, data: Uint8Array, chunkSize = CHUNK, wait = true): Promise<void> {
      await h.arrive('file_chunk', { transferId: Buffer.from(transferId, 'hex'), index, data: data.subarray(index * chunkSize, (index + 1) * chunkSize) }, { wait });
    },
    transfer(transferId: string): Transfer {
      const transfer = h.transfers.get(peer, transferId);
      if (transfer === undefined) throw new Error(`transfer ${transferId} is not recorded`);
      return transfer;
    },
    part(transferId: string): string {
      return partFilePath(h.folders, peer, transferId);
    },
    incomingFiles(): string[] {
      return readdirSync(h.folders.incoming).sort();
    },
    controls(transferId: string): FileControl[] {
      return sent.filter((control) => control.transferId === transferId).map((control) => control.control);
    },
    eventsOf(type: string, transferId: string): Event[] {
      return events.filter((event) => event.type === type && event.data['transfer_id'] === transferId);
    },
  };
  t.teardown(() => h.stop());
  return h;
}

/** Writes one chunk into the part file as the receiver would have before a crash that came before its record. */
function writeChunkBehindTheReceiver(path: string, data: Uint8Array, index: number, chunkSize = CHUNK): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, data.subarray(index * chunkSize, (index + 1) * chunkSize), 0, Math.min(chunkSize, data.length - index * chunkSize), index * chunkSize);
  } finally {
    closeSync(fd);
  }
}

t.test('an offer is recorded with its proof and announced; accepted, its chunks out of order make the file, checked, linked and confirmed', async (t) => {
  const h = setUp(t);
  h.receiver.start();
  const data = new Uint8Array(randomBytes(3 * CHUNK + 1000));
  const id = await h.offer(data);
  const offered = h.transfer(id);
  t.equal(offered.state, 'offered');
  t.equal(offered.correlationId, 'task-7', 'the shared context is kept');
  t.equal(offered.proof?.length, 64, 'the stored proof of the offer is kept');
  t.same(h.eventsOf('p2p.file.offered', id).map((event) => event.data), [{ peer: h.peer, transfer_id: id, name: 'report.pdf', size: data.length, sha256: sha256(data) }]);
  t.same(h.sent, [], 'nothing is answered before the user decides');

  const accepted = await h.receiver.accept(h.peer, id);
  t.equal(accepted.state, 'accepted');
  t.same(h.controls(id), [{ action: 'accept', reason: null }]);
  t.equal((await h.receiver.accept(h.peer, id)).state, 'accepted', 'accepting again changes nothing');
  t.equal(h.controls(id).length, 1, 'and sends nothing again');

  for (const index of [2, 0, 3]) await h.chunk(id, index, data);
  t.equal(h.transfer(id).state, 'receiving');
  t.same([...h.transfer(id).chunksDone].sort(), [0, 2, 3]);
  t.same(h.incomingFiles(), [], 'nothing is in incoming/ before the whole file is checked');
  await h.chunk(id, 1, data);

  const received = h.transfer(id);
  t.equal(received.state, 'received');
  t.equal(received.storedAs, 'report.pdf');
  t.same(h.incomingFiles(), ['report.pdf']);
  t.same(readFileSync(join(h.folders.incoming, 'report.pdf')), Buffer.from(data), 'the file holds exactly the bytes sent');
  t.notOk(existsSync(h.part(id)), 'the part file is gone');
  t.same(h.controls(id), [
    { action: 'accept', reason: null },
    { action: 'received', reason: null },
  ]);
  t.same(h.eventsOf('p2p.file.received', id).map((event) => event.data), [
    { peer: h.peer, transfer_id: id, direction: 'incoming', name: 'report.pdf', size: data.length, sha256: sha256(data), path: 'incoming/report.pdf' },
  ]);
  t.match(h.eventsOf('p2p.file.progress', id).at(-1)?.data, { phase: 'verifying', bytes_done: data.length });
  t.same(h.receiver.stats(), { chunksReceived: 4, chunksDuplicate: 0 });
  t.same(h.refusals, []);

  const again = await h.offer(data);
  await h.receiver.accept(h.peer, again);
  for (const index of [0, 1, 2, 3]) await h.chunk(again, index, data);
  t.same(h.incomingFiles(), ['report (2).pdf', 'report.pdf'], 'a second file of the same name overwrites nothing');
});

t.test('offers over the limits are declined on arrival, with the reason, listed and counted', async (t) => {
  const h = setUp(t, { limits: { maxFileBytes: 4 * CHUNK, maxOffersPerPeer: 2 }, config: { maxPendingBytes: 5 * CHUNK } });
  h.receiver.start();
  const tooLarge = await h.offer(new Uint8Array(4 * CHUNK + 1));
  t.equal(h.transfer(tooLarge).state, 'declined');
  t.equal(h.transfer(tooLarge).reason, 'too_large');
  t.same(h.controls(tooLarge), [{ action: 'decline', reason: 'too_large' }]);

  const first = await h.offer(new Uint8Array(3 * CHUNK));
  const second = await h.offer(new Uint8Array(CHUNK));
  const third = await h.offer(new Uint8Array(CHUNK));
  t.equal(h.transfer(third).state, 'declined', 'a third open offer is one too many');
  t.same(h.controls(third), [{ action: 'decline', reason: 'limit' }]);

  await h.receiver.accept(h.peer, first);
  await h.receiver.decline(h.peer, second);
  t.same(h.controls(second), [{ action: 'decline', reason: 'user' }]);
  t.equal(h.transfer(second).state, 'declined');
  const overPending = await h.offer(new Uint8Array(3 * CHUNK));
  t.equal(h.transfer(overPending).reason, 'limit', '3 accepted chunks pending and 3 more are above the 5 allowed');
  t.same(h.controls(overPending), [{ action: 'decline', reason: 'limit' }]);

  t.same(h.refusals, [
    { reason: 'file_offer_too_large', charged: false },
    { reason: 'file_offer_limit', charged: true },
    { reason: 'file_offer_limit', charged: false },
  ], 'an offer past the open offers a peer may have is charged; the size and pending-bytes limits, which an honest peer cannot know, are not');
  t.same(h.events.filter((event) => event.type === 'p2p.file.failed').map((event) => [event.data['transfer_id'], event.data['reason']]), [
    [tooLarge, 'too_large'],
    [third, 'limit'],
    [second, 'user'],
    [overPending, 'limit'],
  ]);
  t.same(h.eventsOf('p2p.file.offered', tooLarge), [], 'a declined offer is not announced as offered');
});

t.test('accept refuses what the pending bytes or the free space do not allow, and sends nothing then', async (t) => {
  const h = setUp(t, { config: { maxPendingBytes: 5 * CHUNK } });
  h.receiver.start();
  const first = await h.offer(new Uint8Array(3 * CHUNK));
  const second = await h.offer(new Uint8Array(3 * CHUNK));
  await h.receiver.accept(h.peer, first);
  await t.rejects(h.receiver.accept(h.peer, second), { errorName: 'FILE_LIMIT', message: /384\.0 KiB of accepted transfers pending, above the limit of 320\.0 KiB \(P2P_COMM_FILE_MAX_PENDING_BYTES\)/ });
  t.same(h.controls(second), []);
  t.equal(h.transfer(second).state, 'offered', 'still there to accept once the other is done');
  await h.receiver.decline(h.peer, first);
  t.equal(h.transfer(first).state, 'cancelled', 'an accepted transfer the user declines is cancelled');
  t.equal((await h.receiver.accept(h.peer, second)).state, 'accepted', 'which leaves room for the other');

  const tight = setUp(t, { config: { freeSpaceMarginBytes: Number.MAX_SAFE_INTEGER / 2 } });
  tight.receiver.start();
  const id = await tight.offer(new Uint8Array(CHUNK));
  await t.rejects(tight.receiver.accept(tight.peer, id), { errorName: 'FILE_LIMIT', message: /free/ });
  t.same(tight.controls(id), []);
  await t.rejects(tight.receiver.accept(tight.peer, newId()), { errorName: 'NOT_FOUND', message: /see files/ });
});

t.test('a file whose bytes do not match the offered SHA-256 fails, and nothing reaches incoming/', async (t) => {
  const h = setUp(t);
  h.receiver.start();
  const data = new Uint8Array(randomBytes(2 * CHUNK));
  const id = await h.offer(data, 'report.pdf', CHUNK, { sha256: sha256(new Uint8Array(10)) });
  await h.receiver.accept(h.peer, id);
  await h.chunk(id, 0, data);
  await h.chunk(id, 1, data);
  t.equal(h.transfer(id).state, 'failed');
  t.equal(h.transfer(id).reason, 'hash_mismatch');
  t.same(h.incomingFiles(), []);
  t.notOk(existsSync(h.part(id)), 'the part file is deleted');
  t.same(h.controls(id).at(-1), { action: 'failed', reason: 'hash_mismatch' });
  t.same(h.eventsOf('p2p.file.failed', id).map((event) => event.data), [{ peer: h.peer, transfer_id: id, direction: 'incoming', reason: 'hash_mismatch' }]);
  t.same(h.eventsOf('p2p.file.received', id), []);
});

t.test('bad and unexpected chunks are dropped and counted; the file still completes from the good ones', async (t) => {
  const h = setUp(t);
  h.receiver.start();
  const data = new Uint8Array(randomBytes(2 * CHUNK + 10));
  const id = await h.offer(data);
  await h.chunk(id, 0, data);
  t.same(h.refusals, [{ reason: 'file_unexpected_chunk', charged: false }], 'a chunk of an offer not accepted is dropped uncharged: it names a transfer this node recorded');
  await h.chunk(newId(), 0, data);
  t.same(h.refusals.at(-1), { reason: 'file_unexpected_chunk', charged: true }, 'so is a chunk of no transfer');
  await h.receiver.accept(h.peer, id);
  await h.arrive('file_chunk', { transferId: Buffer.from(id, 'hex'), index: 0, data: data.subarray(0, CHUNK - 1) });
  await h.arrive('file_chunk', { transferId: Buffer.from(id, 'hex'), index: 2, data: data.subarray(0, 11) });
  await h.arrive('file_chunk', { transferId: Buffer.from(id, 'hex'), index: 3, data: data.subarray(0, 10) });
  t.same(h.refusals.slice(2), [
    { reason: 'file_bad_chunk', charged: true },
    { reason: 'file_bad_chunk', charged: true },
    { reason: 'file_bad_chunk', charged: true },
  ], 'a short chunk, a last chunk of the wrong length, an index past the end');
  t.same(h.transfer(id).chunksDone.size, 0, 'none of them was recorded');
  t.equal(h.inbox.hasMessagesAfter(h.peer, 0, 'files'), false, 'dropped chunks are acked: they were stored, and a resend would only cost more');
  for (const index of [0, 1, 0, 2]) await h.chunk(id, index, data);
  t.equal(h.transfer(id).state, 'received');
  t.same(h.receiver.stats(), { chunksReceived: 3, chunksDuplicate: 1 }, 'a chunk recorded already is acked without a rewrite');
  t.same(readFileSync(join(h.folders.incoming, 'report.pdf')), Buffer.from(data));
});

t.test('a sender cancel ends the transfer and removes its part; chunks still in flight are dropped uncharged', async (t) => {
  const h = setUp(t);
  h.receiver.start();
  const data = new Uint8Array(randomBytes(3 * CHUNK));
  const id = await h.offer(data);
  await h.receiver.accept(h.peer, id);
  await h.chunk(id, 0, data);
  t.ok(existsSync(h.part(id)), 'the part file holds the first chunk');
  await h.arrive('file_control', { action: 'cancel', reason: 'source_changed' }, { correlationId: id });
  t.equal(h.transfer(id).state, 'cancelled');
  t.equal(h.transfer(id).reason, 'source_changed');
  t.notOk(existsSync(h.part(id)));
  t.same(h.eventsOf('p2p.file.failed', id).map((event) => event.data['reason']), ['source_changed']);
  await h.chunk(id, 1, data);
  t.same(h.refusals, [{ reason: 'file_unexpected_chunk', charged: false }]);
  t.notOk(existsSync(h.part(id)), 'a late chunk does not bring the part file back');
  t.same(h.controls(id), [{ action: 'accept', reason: null }], 'a cancel is not answered');

  const mine = await h.offer(data);
  await h.receiver.accept(h.peer, mine);
  await h.chunk(mine, 0, data);
  await h.receiver.decline(h.peer, mine);
  t.equal(h.transfer(mine).state, 'cancelled', 'the user declining a transfer under way cancels it');
  t.same(h.controls(mine).at(-1), { action: 'decline', reason: 'user' }, 'and the sender is told to stop');
  t.notOk(existsSync(h.part(mine)));

  await h.arrive('file_control', { action: 'accept', reason: null }, { correlationId: mine });
  t.same(h.refusals.at(-1), { reason: 'file_unexpected_control', charged: true }, 'a receiver\'s answer from the sender is charged');
  await h.arrive('file_control', { action: 'cancel', reason: 'user' }, { correlationId: newId() });
  t.same(h.refusals.at(-1), { reason: 'file_unknown_transfer', charged: false });
});

t.test('a restart mid-transfer resumes from the journal; a chunk written but not recorded is taken again', async (t) => {
  const h = setUp(t);
  h.receiver.start();
  const data = new Uint8Array(randomBytes(4 * CHUNK + 123));
  const id = await h.offer(data);
  await h.receiver.accept(h.peer, id);
  await h.chunk(id, 3, data);
  await h.chunk(id, 0, data);
  await h.stop();
  await h.start();
  t.same([...h.transfer(id).chunksDone].sort(), [0, 3], 'the chunks recorded survive');

  // The crash came after chunk 1 was written into the part file and before its record: it is still in the inbox.
  await h.receiver.close();
  await h.chunk(id, 1, data, CHUNK, false);
  writeChunkBehindTheReceiver(h.part(id), data, 1);
  await h.transfers.close();
  await h.inbox.close();
  t.equal(h.transfer(id).chunksDone.has(1), false, 'chunk 1 is not recorded');
  await h.start();
  t.same([...h.transfer(id).chunksDone].sort(), [0, 1, 3], 'taken from the inbox at start');
  t.equal(h.inbox.hasMessagesAfter(h.peer, 0, 'files'), false);

  await h.stop();
  await h.start();
  await h.chunk(id, 2, data);
  await h.chunk(id, 4, data);
  t.equal(h.transfer(id).state, 'received', 'complete without the chunks recorded before being sent again');
  t.same(readFileSync(join(h.folders.incoming, 'report.pdf')), Buffer.from(data));
  t.same(h.controls(id), [
    { action: 'accept', reason: null },
    { action: 'received', reason: null },
  ]);
});

t.test('a file all here before a crash is verified at start; one linked already is finished without a second copy', async (t) => {
  const h = setUp(t);
  h.receiver.start();
  const data = new Uint8Array(randomBytes(2 * CHUNK));
  const id = await h.offer(data);
  await h.receiver.accept(h.peer, id);
  await h.chunk(id, 0, data);
  await h.receiver.close();
  // As the crashed receiver left it: the last chunk written and recorded, the state verifying, nothing linked.
  writeChunkBehindTheReceiver(h.part(id), data, 1);
  await h.transfers.addChunksDone(h.peer, id, [1]);
  await h.transfers.setState(h.peer, id, 'verifying');
  await h.transfers.close();
  await h.inbox.close();
  await h.start();
  t.equal(h.transfer(id).state, 'received');
  t.same(h.incomingFiles(), ['report.pdf']);
  t.same(h.controls(id).at(-1), { action: 'received', reason: null });

  const linked = await h.offer(data, 'linked.bin');
  await h.receiver.accept(h.peer, linked);
  await h.chunk(linked, 0, data);
  await h.receiver.close();
  // This time the crash came after the link and its record, before the state.
  writeChunkBehindTheReceiver(h.part(linked), data, 1);
  await h.transfers.addChunksDone(h.peer, linked, [1]);
  await h.transfers.setState(h.peer, linked, 'verifying');
  const name = await linkIntoIncoming(h.folders, h.part(linked), 'linked.bin');
  await h.transfers.recordStoredAs(h.peer, linked, name);
  await h.transfers.close();
  await h.inbox.close();
  await h.start();
  t.equal(h.transfer(linked).state, 'received');
  t.same(h.incomingFiles(), ['linked.bin', 'report.pdf'], 'one copy');
  t.notOk(existsSync(h.part(linked)), 'the part file is gone');
  t.same(h.eventsOf('p2p.file.received', linked).length, 1);
});

t.test('a 2 MiB file in 256 KiB chunks arrives whole', async (t) => {
  const h = setUp(t);
  h.receiver.start();
  const chunkSize = 256 * KIB;
  const data = new Uint8Array(randomBytes(2 * 1024 * KIB));
  const id = await h.offer(data, 'big.bin', chunkSize);
  await h.receiver.accept(h.peer, id);
  for (let index = 7; index >= 0; index -= 1) await h.chunk(id, index, data, chunkSize, false);
  await h.receiver.whenIdle();
  t.equal(h.transfer(id).state, 'received');
  t.same(createHash('sha256').update(readFileSync(join(h.folders.incoming, 'big.bin'))).digest('hex'), sha256(data));
  t.equal(h.receiver.stats().chunksReceived, 8);
});

t.test('progress events are spaced by the interval, besides one at each tenth', async (t) => {
  const h = setUp(t, { config: { progressIntervalMs: 1_000 } });
  h.receiver.start();
  const data = new Uint8Array(randomBytes(32 * CHUNK));
  const id = await h.offer(data);
  await h.receiver.accept(h.peer, id);
  for (let index = 0; index < 16; index += 1) await h.chunk(id, index, data);
  const receiving = () => h.eventsOf('p2p.file.progress', id).filter((event) => event.data['phase'] === 'receiving');
  t.same(
    receiving().map((event) => event.data['bytes_done']),
    [1, 4, 7, 10, 13, 16].map((chunks) => chunks * CHUNK),
    'at a still clock: the first, then one as each tenth is passed',
  );
  for (let index = 16; index < 20; index += 1) {
    h.clock.ms += 1_000;
    await h.chunk(id, index, data);
  }
  t.equal(receiving().length, 10, 'one per interval when the clock moves');
  t.match(receiving().at(-1)?.data, { peer: h.peer, transfer_id: id, direction: 'incoming', phase: 'receiving', bytes_done: 20 * CHUNK, size: 32 * CHUNK });
});

t.test('an offer not accepted in time expires, as do transfers under way; a revoked pairing fails the rest', async (t) => {
  const h = setUp(t, { config: { ttlSeconds: 60 } });
  h.receiver.start();
  const data = new Uint8Array(randomBytes(2 * CHUNK));
  const waiting = await h.offer(data);
  const started = await h.offer(data);
  const late = await h.offer(data);
  await h.receiver.accept(h.peer, started);
  await h.chunk(started, 0, data);
  t.equal(h.transfer(started).expiresAt, START + 60_000, 'an offer lives ttlSeconds from its arrival');
  h.clock.ms = START + 60_001;
  await t.rejects(h.receiver.accept(h.peer, late), { errorName: 'CONFLICT', message: /expired; ask the peer to send it again/ });
  t.equal(h.transfer(late).state, 'expired');
  t.same(h.controls(late), [{ action: 'decline', reason: 'expired' }]);
  await h.receiver.expireDue();
  for (const id of [waiting, started]) {
    t.equal(h.transfer(id).state, 'expired');
    t.same(h.controls(id).at(-1), { action: 'decline', reason: 'expired' });
    t.same(h.eventsOf('p2p.file.failed', id).map((event) => event.data['reason']), ['expired']);
  }
  t.notOk(existsSync(h.part(started)), 'the part of an expired transfer is deleted');

  const open = await h.offer(data);
  const receiving = await h.offer(data);
  await h.receiver.accept(h.peer, receiving);
  await h.chunk(receiving, 1, data);
  const sentBefore = h.sent.length;
  await h.receiver.peerRevoked(h.peer, 'revoked');
  for (const id of [open, receiving]) {
    t.equal(h.transfer(id).state, 'failed');
    t.equal(h.transfer(id).reason, 'revoked');
  }
  t.equal(h.sent.length, sentBefore, 'nothing is sent to a revoked peer');
  t.notOk(existsSync(h.part(receiving)));
});

t.test('a part file that cannot be written fails the transfer as storage_error and tells the peer', async (t) => {
  const h = setUp(t);
  h.receiver.start();
  const data = new Uint8Array(randomBytes(2 * CHUNK));
  const id = await h.offer(data);
  await h.receiver.accept(h.peer, id);
  // A link to a folder where the part file goes: the open fails as a failing disk would, with an errno.
  symlinkSync(h.dir, h.part(id));
  await h.chunk(id, 0, data);
  t.equal(h.transfer(id).state, 'failed');
  t.equal(h.transfer(id).reason, 'storage_error');
  t.same(h.controls(id).at(-1), { action: 'failed', reason: 'storage_error' });
  t.equal(h.inbox.hasMessagesAfter(h.peer, 0, 'files'), false);
  t.notOk(existsSync(h.part(id)), 'what stood in the part file\'s place is removed');
});

t.test('the peer\'s controls about this node\'s own offers go to the sending side', async (t) => {
  const h = setUp(t);
  h.receiver.start();
  const transferId = newId();
  const offerJson = JSON.stringify({ v: 1, name: 'mine.txt', size: 10, sha256: 'ab'.repeat(32), chunk_size: CHUNK });
  await h.transfers.addTransfer({ direction: 'outgoing', peerId: h.peer, transferId, offerJson, correlationId: null, source: 'folder', sourcePath: 'mine.txt', expiresAt: START + 60_000, proof: null });
  await h.arrive('file_control', { action: 'accept', reason: null }, { correlationId: transferId });
  await h.arrive('file_control', { action: 'decline', reason: 'too_large' }, { correlationId: transferId });
  t.same(h.outgoingControls, [
    { transferId, control: { action: 'accept', reason: null } },
    { transferId, control: { action: 'decline', reason: 'too_large' } },
  ]);
  t.same(h.refusals, []);
  await h.arrive('file_chunk', { transferId: Buffer.from(transferId, 'hex'), index: 0, data: new Uint8Array(10) });
  t.same(h.refusals, [{ reason: 'file_unexpected_chunk', charged: true }], 'a chunk of a transfer this node sends is refused');
});

t.test('accept is recorded before it is sent; a stop in between sends it again at start, and chunks are taken, none charged', async (t) => {
  const h = setUp(t);
  h.receiver.start();
  const data = new Uint8Array(randomBytes(2 * CHUNK));
  const id = await h.offer(data);
  const statesWhenSent: string[] = [];
  const send = h.sent.push.bind(h.sent);
  h.sent.push = (...items: SentControl[]) => {
    for (const item of items) if (item.control.action === 'accept') statesWhenSent.push(h.transfer(item.transferId).state);
    return send(...items);
  };
  await h.receiver.accept(h.peer, id);
  t.same(statesWhenSent, ['accepted'], 'when accept leaves, the transfer is recorded accepted');
  h.sent.push = send;

  // A stop right after the record, before the send: the journal says accepted, the peer heard nothing.
  await h.stop();
  h.sent.length = 0;
  await h.start();
  t.same(h.controls(id), [{ action: 'accept', reason: null }], 'the start sends accept again for an accepted transfer with no chunk');
  for (const index of [0, 1]) await h.chunk(id, index, data);
  t.equal(h.transfer(id).state, 'received', 'the chunks answering it are taken');
  t.same(h.refusals, [], 'and nothing is charged');

  await h.stop();
  h.sent.length = 0;
  await h.start();
  t.same(h.controls(id), [], 'a transfer ended is not accepted again');
});

t.test('an accept that cannot be sent fails the transfer and says why', async (t) => {
  const h = setUp(t);
  h.receiver.start();
  const id = await h.offer(new Uint8Array(randomBytes(CHUNK)));
  h.sent.push = () => {
    throw new Error('the outbox is full');
  };
  await t.rejects(h.receiver.accept(h.peer, id), /the outbox is full/);
  t.equal(h.transfer(id).state, 'failed');
  t.equal(h.transfer(id).reason, 'send_refused');
  t.same(h.eventsOf('p2p.file.failed', id).map((event) => event.data['reason']), ['send_refused']);
});

t.test('file messages of a peer no longer paired are dropped uncharged and acked: nothing is announced, the channel does not wedge', async (t) => {
  const h = setUp(t);
  h.receiver.start();
  h.paired.now = false;
  // Sending to a revoked peer throws, as the messenger does: a decline would have thrown inside the batch.
  h.sent.push = () => {
    throw new Error('not a paired peer');
  };
  const ids = [await h.offer(new Uint8Array(randomBytes(10))), await h.offer(new Uint8Array(randomBytes(10)), 'b.txt')];
  t.same(h.events, [], 'no offer of a peer no longer paired is announced');
  t.same(ids.map((id) => h.transfers.get(h.peer, id)), [undefined, undefined], 'nor recorded');
  t.same(h.refusals, [{ reason: 'file_unpaired', charged: false }, { reason: 'file_unpaired', charged: false }], 'each is counted, uncharged');
  t.equal(h.inbox.hasMessagesAfter(h.peer, 0, 'files'), false, 'and acked: the next start does not take them again');
  await h.stop();
  await h.start();
  t.same(h.events, [], 'a start announces nothing');
});

t.test('a decline on arrival that cannot be sent is still recorded and the channel goes on', async (t) => {
  const h = setUp(t, { limits: { maxOffersPerPeer: 1 } });
  h.receiver.start();
  await h.offer(new Uint8Array(randomBytes(10)));
  h.sent.push = () => {
    throw new Error('the outbox is full');
  };
  const over = await h.offer(new Uint8Array(randomBytes(10)), 'b.txt');
  t.equal(h.transfer(over).state, 'declined', 'the offer over the limit is declined');
  t.equal(h.inbox.hasMessagesAfter(h.peer, 0, 'files'), false, 'its message is acked, not taken again and again');
});
