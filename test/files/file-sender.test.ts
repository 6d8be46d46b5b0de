import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { prepareFileFolders } from '../../extension/files/file-folders';
import { DEFAULT_FILE_SENDER_CONFIG, type FileMessenger, FileSender, type FileSenderConfig } from '../../extension/files/file-sender';
import { TransferStore } from '../../extension/files/transfer-store';
import type { SettledState } from '../../extension/messaging/messenger';
import type { FileChunk, FileControl, FileOffer } from '../../extension/wire/file-payload';
import { tempDir } from '../helpers/extension';
import { quietLogger } from '../helpers/messenger';

const KIB = 1024;
const CHUNK = 64 * KIB;
const START = Date.parse('2026-11-30T10:00:00.000Z');

const newPeer = (): string => peerIdFromPublicKey(new Uint8Array(randomBytes(32)));
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

interface Sent {
  messageId: string;
  peer: string;
  type: string;
  content: unknown;
  correlationId: string | null;
  state: 'queued' | SettledState;
  reason: string | null;
}

/**
 * A fake messenger whose outbox outlives the sender (as outbox.log would):
 * it records each message, lets the test settle any of them, and fails
 * pending ones on request, calling the settle listeners like the real one.
 */
function fakeMessenger() {
  const outbox = new Map<string, Sent>();
  let listeners: ((peerId: string, messageId: string, state: SettledState, reason: string | null) => void)[] = [];
  const failPendingCalls: { ids: string[]; reason: string }[] = [];
  const settle = (messageId: string, state: SettledState, reason: string | null = null, tell = true): void => {
    const message = outbox.get(messageId);
    if (message === undefined || message.state !== 'queued') throw new Error(`message ${messageId} is not pending`);
    message.state = state;
    message.reason = reason;
    if (tell) for (const listener of listeners) listener(message.peer, messageId, state, reason);
  };
  const refusing = { sends: false };
  const messenger: FileMessenger = {
    send: async (request) => {
      if (refusing.sends) throw new Error('not paired with this peer');
      const messageId = request.messageId ?? randomBytes(16).toString('hex');
      outbox.set(messageId, { messageId, peer: request.peer, type: request.type, content: request.content, correlationId: request.correlationId, state: 'queued', reason: null });
      return { messageId };
    },
    onSettled: (listener) => {
      listeners.push(listener);
    },
    failPending: async (_peerId, ids, reason) => {
      failPendingCalls.push({ ids: [...ids], reason });
      const failed = ids.filter((id) => outbox.get(id)?.state === 'queued');
      for (const id of failed) settle(id, 'failed', reason);
      return failed;
    },
  };
  const ofType = (type: string) => [...outbox.values()].filter((message) => message.type === type);
  const chunks = () => ofType('file_chunk').map((message) => ({ ...message, chunk: message.content as FileChunk }));
  const pendingChunks = () => chunks().filter((message) => message.state === 'queued');
  return {
    messenger,
    outbox,
    refusing,
    settle,
    failPendingCalls,
    ofType,
    chunks,
    pendingChunks,
    /** A restart: the old sender's listener is gone with it. */
    forgetListeners: () => {
      listeners = [];
    },
  };
}

function setUp(t: Test, config: Partial<FileSenderConfig> = {}) {
  const dir = tempDir(t);
  const peer = newPeer();
  const fake = fakeMessenger();
  const events: { type: string; data: Record<string, unknown> }[] = [];
  const folders = prepareFileFolders(dir);
  const clock = { ms: START };
  const pairing: { ended: string | null } = { ended: null };
  const open = () => {
    const transfers = TransferStore.open(dir, {}, () => clock.ms);
    const sender = new FileSender({
      transfers,
      folders,
      messenger: fake.messenger,
      outboxMessage: (id) => fake.outbox.get(id) as { state: 'queued' | SettledState; reason: string | null } | undefined,
      events: { enqueue: (event) => events.push({ type: event.type, data: event.data }) },
      pairingEnded: () => pairing.ended,
      logger: quietLogger,
      config: { ...DEFAULT_FILE_SENDER_CONFIG, chunkBytes: CHUNK, ...config },
      now: () => clock.ms,
    });
    return { transfers, sender };
  };
  let node = open();
  node.sender.start();
  const restart = async () => {
    await node.sender.close();
    await node.transfers.close();
    fake.forgetListeners();
    node = open();
    node.sender.start();
    await node.sender.whenIdle();
    return node;
  };
  t.teardown(async () => {
    await node.sender.close();
    await node.transfers.close();
  });
  const place = (name: string, bytes: Uint8Array) => writeFileSync(join(folders.outgoing, name), bytes);
  /** Sends a file of the folder and waits for its offer. */
  const offer = async (name: string, bytes: Uint8Array, extra: { correlationId?: string } = {}) => {
    place(name, bytes);
    const result = await node.sender.sendFromFolder({ peer, path: name, ...extra });
    if (!('transferId' in result)) throw new Error('no transfer');
    await node.sender.whenIdle();
    return result.transferId;
  };
  const control = async (transferId: string, control: FileControl) => {
    await node.sender.control(peer, transferId, control);
    await node.sender.whenIdle();
  };
  const deliver = async (messageIds: string[]) => {
    for (const id of messageIds) fake.settle(id, 'delivered');
    await node.sender.whenIdle();
  };
  return { dir, peer, fake, events, folders, clock, pairing, offer, place, control, deliver, restart, get sender() { return node.sender; }, get transfers() { return node.transfers; } };
}

t.test('the offer goes out after hashing, under the transfer id, with the whole file hash and the shared context', async (t) => {
  const s = setUp(t);
  const bytes = randomBytes(5 * CHUNK + 100);
  s.place('report.pdf', bytes);
  const result = await s.sender.sendFromFolder({ peer: s.peer, path: 'report.pdf', correlationId: 'task-7', description: 'Q3 numbers' });
  t.match(result, { state: 'hashing', size: bytes.length, name: 'report.pdf' });
  if (!('transferId' in result)) throw new Error('no transfer');
  t.same(s.sender.hashingTransfers().map((entry) => entry.transferId), [result.transferId], 'listed while hashing');
  await s.sender.whenIdle();
  const [offer] = s.fake.ofType('file_offer');
  t.equal(offer?.messageId, result.transferId, 'the offer is sent under the transfer id');
  t.equal(offer?.correlationId, 'task-7');
  t.match(offer?.content as FileOffer, { name: 'report.pdf', size: bytes.length, sha256: sha256(bytes), chunkSize: CHUNK, description: 'Q3 numbers' });
  const transfer = s.transfers.get(s.peer, result.transferId);
  t.equal(transfer?.state, 'offered');
  t.equal(transfer?.chunkCount, 6);
  t.equal(Buffer.from(transfer?.chunkHashes?.subarray(5 * 32, 6 * 32) ?? []).toString('hex'), sha256(bytes.subarray(5 * CHUNK)), 'per-chunk hashes recorded');
  const hashing = s.events.filter((event) => event.type === 'p2p.file.progress');
  t.ok(hashing.length >= 1 && hashing.every((event) => event.data['phase'] === 'hashing'), 'progress during hashing');
  t.equal(hashing.at(-1)?.data['bytes_done'], bytes.length);
  t.same(s.sender.hashingTransfers(), []);
  await t.rejects(s.sender.sendFromFolder({ peer: s.peer, path: '../x' }), { errorName: 'INVALID_INPUT', message: /without a \.\. segment/ });
  s.place('empty', new Uint8Array(0));
  await t.rejects(s.sender.sendFromFolder({ peer: s.peer, path: 'empty' }), { errorName: 'INVALID_INPUT', message: /at least one byte/ });
});

t.test('accept sends a window of chunks, refilled one for one as they settle; received ends it', async (t) => {
  const s = setUp(t);
  const bytes = randomBytes(40 * CHUNK - 7);
  const id = await s.offer('big.bin', bytes);
  t.equal(s.fake.chunks().length, 0, 'nothing before the accept');
  await s.control(id, { action: 'accept', reason: null });
  t.same(s.fake.chunks().map((message) => message.chunk.index), [...Array(16).keys()], 'a window of 16, in order');
  t.equal(s.transfers.get(s.peer, id)?.state, 'sending');
  await s.deliver([s.fake.chunks()[3]!.messageId]);
  t.equal(s.fake.chunks().length, 17, 'one settled, one more');
  t.equal(s.fake.pendingChunks().length, 16);
  while (s.fake.pendingChunks().length > 0) await s.deliver(s.fake.pendingChunks().map((message) => message.messageId));
  const sent = s.fake.chunks();
  t.equal(sent.length, 40, 'each chunk once');
  t.equal(Buffer.concat(sent.sort((a, b) => a.chunk.index - b.chunk.index).map((message) => message.chunk.data)).equals(bytes), true, 'the chunks are the file');
  t.equal(s.transfers.get(s.peer, id)?.state, 'sent');
  await s.control(id, { action: 'received', reason: null });
  t.equal(s.transfers.get(s.peer, id)?.state, 'received');
  t.match(s.events.find((event) => event.type === 'p2p.file.received')?.data, { transfer_id: id, direction: 'outgoing', sha256: sha256(bytes) });
  t.same(s.sender.stats(), { chunksSent: 40, chunksResent: 0 });
});

t.test('one transfer at a time per peer: the second accepted waits for the first', async (t) => {
  const s = setUp(t, { windowChunks: 4 });
  const first = await s.offer('a.bin', randomBytes(3 * CHUNK));
  const second = await s.offer('b.bin', randomBytes(2 * CHUNK));
  await s.control(second, { action: 'accept', reason: null });
  await s.control(first, { action: 'accept', reason: null });
  t.same(s.fake.chunks().map((message) => message.chunk.index), [0, 1], 'the first accepted is sent first');
  await s.deliver(s.fake.pendingChunks().map((message) => message.messageId));
  t.equal(s.transfers.get(s.peer, second)?.state, 'sent');
  t.same(s.fake.chunks().slice(2).map((message) => Buffer.from(message.chunk.transferId).toString('hex')), [first, first, first], 'then the next');
});

t.test('decline and failed answers end the transfer', async (t) => {
  const s = setUp(t);
  const declined = await s.offer('a.bin', randomBytes(CHUNK));
  await s.control(declined, { action: 'decline', reason: 'too_large' });
  t.match(s.transfers.get(s.peer, declined), { state: 'declined', reason: 'too_large' });
  t.match(s.events.find((event) => event.type === 'p2p.file.failed')?.data, { transfer_id: declined, direction: 'outgoing', reason: 'too_large' });
  await s.control(declined, { action: 'accept', reason: null });
  t.equal(s.fake.chunks().length, 0, 'an accept after the end sends no chunk');
  t.same(
    s.fake.ofType('file_control').map((message) => message.content),
    [{ action: 'cancel', reason: 'ended' }],
    'but tells the receiver the transfer is over, so it does not wait for chunks (it stopped between its decline and recording it)',
  );
  const failed = await s.offer('b.bin', randomBytes(2 * CHUNK));
  await s.control(failed, { action: 'accept', reason: null });
  await s.deliver(s.fake.pendingChunks().map((message) => message.messageId));
  await s.control(failed, { action: 'failed', reason: 'hash_mismatch' });
  t.match(s.transfers.get(s.peer, failed), { state: 'failed', reason: 'hash_mismatch' });
  const refused = await s.offer('c.bin', randomBytes(CHUNK));
  s.fake.settle(refused, 'failed', 'malformed');
  await s.sender.whenIdle();
  t.match(s.transfers.get(s.peer, refused), { state: 'failed', reason: 'peer_unsupported' }, 'a peer without files-v1 refuses the offer as malformed');
});

t.test('cancel fails the pending chunks and tells the peer', async (t) => {
  const s = setUp(t);
  const id = await s.offer('big.bin', randomBytes(40 * CHUNK));
  await s.control(id, { action: 'accept', reason: null });
  await s.deliver([s.fake.chunks()[0]!.messageId]);
  const pending = s.fake.pendingChunks().map((message) => message.messageId);
  t.equal(pending.length, 16);
  const transfer = await s.sender.cancel(s.peer, id);
  await s.sender.whenIdle();
  t.match(transfer, { state: 'cancelled', reason: 'user' });
  t.same(s.fake.failPendingCalls.map((call) => call.ids.sort()), [pending.sort()], 'failPending got exactly the pending chunks');
  t.equal(s.fake.pendingChunks().length, 0);
  const [cancel] = s.fake.ofType('file_control');
  t.same(cancel?.content, { action: 'cancel', reason: 'user' });
  t.equal(cancel?.correlationId, id);
  t.equal(s.fake.chunks().length, 17, 'no chunk after the cancel');
  t.equal(s.events.filter((event) => event.type === 'p2p.file.failed').length, 1, 'one failed event, not one per chunk');
  t.match(await s.sender.cancel(s.peer, id), { state: 'cancelled' }, 'cancelling again changes nothing');
  t.equal(s.fake.ofType('file_control').length, 1);
});

t.test('a source edited after the offer cancels the transfer as source_changed', async (t) => {
  const s = setUp(t, { windowChunks: 4 });
  const bytes = randomBytes(10 * CHUNK);
  const id = await s.offer('doc.bin', bytes);
  const edited = Buffer.from(bytes);
  edited[6 * CHUNK + 5] = (edited[6 * CHUNK + 5]! + 1) % 256;
  s.place('doc.bin', edited);
  await s.control(id, { action: 'accept', reason: null });
  while (s.fake.pendingChunks().length > 0) await s.deliver(s.fake.pendingChunks().map((message) => message.messageId));
  t.match(s.transfers.get(s.peer, id), { state: 'cancelled', reason: 'source_changed' });
  t.same(s.fake.chunks().map((message) => message.chunk.index), [0, 1, 2, 3, 4, 5], 'nothing from the changed chunk on');
  t.same(s.fake.ofType('file_control').map((message) => message.content), [{ action: 'cancel', reason: 'source_changed' }]);
  const shrunk = await s.offer('short.bin', randomBytes(3 * CHUNK));
  s.place('short.bin', randomBytes(CHUNK));
  await s.control(shrunk, { action: 'accept', reason: null });
  t.match(s.transfers.get(s.peer, shrunk), { state: 'cancelled', reason: 'source_changed' }, 'a size change is caught at open');
});

t.test('a restart sends again only the chunks no receipt covered', async (t) => {
  const s = setUp(t);
  const bytes = randomBytes(30 * CHUNK);
  const id = await s.offer('big.bin', bytes);
  await s.control(id, { action: 'accept', reason: null });
  const first = s.fake.chunks();
  await s.deliver(first.slice(0, 4).map((message) => message.messageId));
  // Delivered in the outbox, but the stop came before the sender recorded it.
  for (const message of first.slice(4, 6)) s.fake.settle(message.messageId, 'delivered', null, false);
  // Chunk 6's outbox record never made it to disk.
  s.fake.outbox.delete(first[6]!.messageId);
  const before = s.fake.chunks().length;
  const node = await s.restart();
  const after = s.fake.chunks().slice(before);
  // Pending through the stop: 7..19 (13), left to the messenger; with chunk 6 that is 14, so two new ones fill the window.
  t.same(after.map((message) => message.chunk.index), [6, 20, 21], 'chunk 6 again, then new ones up to the window');
  t.same(node.sender.stats(), { chunksSent: 3, chunksResent: 1 });
  t.same([...(node.transfers.get(s.peer, id)?.chunksDone ?? [])].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5]);
  while (s.fake.pendingChunks().length > 0) await s.deliver(s.fake.pendingChunks().map((message) => message.messageId));
  t.equal(node.transfers.get(s.peer, id)?.state, 'sent', 'chunks still pending before the stop settle into the restarted sender');
  const indexes = s.fake.chunks().map((message) => message.chunk.index);
  t.equal(indexes.length, 30, 'each chunk in the outbox once (the lost record of chunk 6 aside)');
  t.equal(new Set(indexes).size, 30);
});

t.test('an offer recorded but not sent before a stop is sent once at start', async (t) => {
  const s = setUp(t);
  const id = await s.offer('a.bin', randomBytes(CHUNK));
  await s.transfers.setState(s.peer, id, 'offered');
  s.fake.outbox.delete(id);
  const hashingOnly = await s.offer('b.bin', randomBytes(CHUNK));
  t.equal(s.fake.ofType('file_offer').length, 1);
  // b's offer is in the outbox already: the restart must not send it twice.
  const node = await s.restart();
  t.equal(s.fake.ofType('file_offer').length, 1, 'an offered transfer is not offered again');
  t.equal(node.transfers.get(s.peer, hashingOnly)?.state, 'offered');
});

t.test('upload in parts: order, limits, then the offer; the upload goes once the transfer ends', async (t) => {
  const s = setUp(t, { maxFileBytes: 3 * CHUNK });
  const part1 = randomBytes(CHUNK);
  const started = await s.sender.upload({ peer: s.peer, name: 'notes.txt' }, { offset: 0, data: part1, done: false });
  if (!('uploadId' in started)) throw new Error('no upload');
  t.equal(started.receivedBytes, CHUNK);
  await t.rejects(s.sender.upload({ peer: s.peer, name: 'notes.txt' }, { uploadId: started.uploadId, offset: 0, data: part1, done: false }), {
    errorName: 'INVALID_INPUT',
    message: new RegExp(`offset ${CHUNK}`),
  });
  await t.rejects(s.sender.upload({ peer: s.peer, name: 'notes.txt' }, { uploadId: started.uploadId, offset: CHUNK, data: randomBytes(3 * CHUNK), done: false }), {
    errorName: 'FILE_LIMIT',
    message: /P2P_COMM_FILE_MAX_BYTES/,
  });
  await t.rejects(s.sender.upload({ peer: s.peer, name: 'x' }, { uploadId: 'ab'.repeat(16), offset: 0, data: part1, done: false }), { errorName: 'NOT_FOUND', message: /no upload/ });
  const part2 = randomBytes(100);
  const done = await s.sender.upload({ peer: s.peer, name: 'notes.txt' }, { uploadId: started.uploadId, offset: CHUNK, data: part2, done: true });
  if (!('transferId' in done)) throw new Error('no transfer');
  await s.sender.whenIdle();
  const transfer = s.transfers.get(s.peer, done.transferId);
  t.match(transfer, { source: 'upload', sourcePath: started.uploadId, state: 'offered' });
  t.equal(transfer?.offer.sha256, sha256(Buffer.concat([part1, part2])));
  await s.control(done.transferId, { action: 'accept', reason: null });
  await s.deliver(s.fake.pendingChunks().map((message) => message.messageId));
  await s.control(done.transferId, { action: 'received', reason: null });
  t.notOk(existsSync(join(s.folders.uploads, started.uploadId)), 'the upload is removed');
  const abandoned = await s.sender.upload({ peer: s.peer, name: 'y' }, { offset: 0, data: part1, done: false });
  // Upload ages are file times, so the clock moves past the real time.
  s.clock.ms = Date.now() + DEFAULT_FILE_SENDER_CONFIG.uploadTtlMs + 60_000;
  await s.sender.expireDue();
  t.same(readdirSync(s.folders.uploads), [], 'an unfinished upload is removed after its time');
  t.ok('uploadId' in abandoned);
});

t.test('expiry cancels with expired; a revoked peer fails the transfer without a word', async (t) => {
  const s = setUp(t);
  const expiring = await s.offer('a.bin', randomBytes(3 * CHUNK));
  await s.control(expiring, { action: 'accept', reason: null });
  s.clock.ms += DEFAULT_FILE_SENDER_CONFIG.ttlSeconds * 1000 + 1;
  await s.sender.expireDue();
  t.match(s.transfers.get(s.peer, expiring), { state: 'expired', reason: 'expired' });
  t.same(s.fake.ofType('file_control').map((message) => message.content), [{ action: 'cancel', reason: 'expired' }]);
  const revoked = await s.offer('b.bin', randomBytes(3 * CHUNK));
  await s.control(revoked, { action: 'accept', reason: null });
  for (const message of s.fake.pendingChunks()) s.fake.settle(message.messageId, 'failed', 'revoked');
  await s.sender.whenIdle();
  t.match(s.transfers.get(s.peer, revoked), { state: 'failed', reason: 'revoked' });
  t.equal(s.fake.ofType('file_control').length, 1, 'nothing sent to a revoked peer');
});

t.test('a peer the messenger refuses fails the transfer; revocation ends every transfer to the peer, queued ones too', async (t) => {
  const s = setUp(t, { windowChunks: 2 });
  const first = await s.offer('a.bin', randomBytes(4 * CHUNK));
  const second = await s.offer('b.bin', randomBytes(4 * CHUNK));
  await s.control(first, { action: 'accept', reason: null });
  await s.control(second, { action: 'accept', reason: null });
  s.fake.refusing.sends = true;
  await s.sender.peerRevoked(s.peer, 'revoked_by_peer');
  await s.sender.whenIdle();
  t.match(s.transfers.get(s.peer, first), { state: 'failed', reason: 'revoked_by_peer' });
  t.match(s.transfers.get(s.peer, second), { state: 'failed', reason: 'revoked_by_peer' }, 'the waiting transfer is not started');
  t.equal(s.fake.chunks().length, 2, 'no chunk after the revocation');
  s.fake.refusing.sends = false;
  const third = await s.offer('c.bin', randomBytes(4 * CHUNK));
  await s.control(third, { action: 'accept', reason: null });
  await s.deliver([s.fake.pendingChunks()[0]!.messageId]);
  t.equal(s.transfers.get(s.peer, third)?.state, 'sending');
  s.fake.refusing.sends = true;
  await s.deliver([s.fake.pendingChunks()[0]!.messageId]);
  t.match(s.transfers.get(s.peer, third), { state: 'failed', reason: 'send_refused' }, 'a chunk the messenger refuses ends the transfer');
  const fourth = await s.offer('d.bin', randomBytes(CHUNK));
  t.match(s.transfers.get(s.peer, fourth), { state: 'failed', reason: 'send_refused' }, 'and so does a refused offer');
  s.pairing.ended = 'revoked_by_peer';
  const fifth = await s.offer('e.bin', randomBytes(CHUNK));
  t.match(s.transfers.get(s.peer, fifth), { state: 'failed', reason: 'revoked_by_peer' }, 'refused because the pairing ended: named so');
});

t.test("a receipt that comes during one peer's chunk hand-over is kept while another peer's hand-over ends", async (t) => {
  const s = setUp(t, { windowChunks: 1 });
  const other = newPeer();
  const toPeer = await s.offer('a.bin', randomBytes(3 * CHUNK));
  s.place('b.bin', randomBytes(3 * CHUNK));
  const toOther = await s.sender.sendFromFolder({ peer: other, path: 'b.bin' });
  if (!('transferId' in toOther)) throw new Error('no transfer');
  await s.sender.whenIdle();
  // The peer's first chunk is delivered before its hand-over returns, and the hand-over is held there.
  const send = s.fake.messenger.send;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let reached!: () => void;
  const inside = new Promise<void>((resolve) => (reached = resolve));
  let armed = true;
  s.fake.messenger.send = async (request) => {
    const sent = await send(request);
    if (armed && request.peer === s.peer && request.type === 'file_chunk') {
      armed = false;
      s.fake.settle(sent.messageId, 'delivered');
      reached();
      await held;
    }
    return sent;
  };
  const accepted = s.sender.control(s.peer, toPeer, { action: 'accept', reason: null });
  await inside;
  await s.sender.control(other, toOther.transferId, { action: 'accept', reason: null });
  release();
  await accepted;
  await s.sender.whenIdle();
  t.equal(s.fake.chunks().filter((chunk) => chunk.peer === s.peer).length, 2, 'the first chunk, delivered during its hand-over, freed the window for the second');
  t.equal(s.fake.chunks().filter((chunk) => chunk.peer === other).length, 1, "the other peer's window holds its first chunk");
});

t.test('a repeated accept (the receiver sends it again after a stop) sends what is missing, nothing twice', async (t) => {
  const s = setUp(t, { windowChunks: 4 });
  const bytes = randomBytes(10 * CHUNK);
  const id = await s.offer('again.bin', bytes);
  await s.control(id, { action: 'accept', reason: null });
  await s.deliver(s.fake.pendingChunks().slice(0, 2).map((message) => message.messageId));
  const before = s.fake.chunks().map((message) => message.chunk.index);
  t.same(before, [0, 1, 2, 3, 4, 5]);
  await s.control(id, { action: 'accept', reason: null });
  t.same(s.fake.chunks().map((message) => message.chunk.index), before, 'the window is full: a repeat adds no chunk and sends none again');
  t.equal(s.transfers.get(s.peer, id)?.state, 'sending', 'and is no error');
  while (s.fake.pendingChunks().length > 0) await s.deliver(s.fake.pendingChunks().map((message) => message.messageId));
  t.equal(s.transfers.get(s.peer, id)?.state, 'sent');
  await s.control(id, { action: 'accept', reason: null });
  t.equal(s.fake.chunks().length, 10, 'after every chunk was delivered, a repeat sends nothing');
  t.equal(s.transfers.get(s.peer, id)?.state, 'sent');
  t.same(s.events.filter((event) => event.type === 'p2p.file.failed'), [], 'nothing failed');
});

t.test('an accept repeated after a restart resumes the transfer from what the outbox holds', async (t) => {
  const s = setUp(t, { windowChunks: 4 });
  const id = await s.offer('resume.bin', randomBytes(6 * CHUNK));
  await s.control(id, { action: 'accept', reason: null });
  await s.deliver(s.fake.pendingChunks().map((message) => message.messageId));
  const sentBefore = s.fake.chunks().length;
  await s.restart();
  await s.control(id, { action: 'accept', reason: null });
  const indexes = s.fake.chunks().map((message) => message.chunk.index);
  t.same(indexes.slice(sentBefore).sort(), [...new Set(indexes.slice(sentBefore))].sort(), 'no chunk is handed over twice after the restart');
  t.notOk(indexes.slice(sentBefore).some((index) => index < 4), 'the delivered ones are not sent again');
  while (s.fake.pendingChunks().length > 0) await s.deliver(s.fake.pendingChunks().map((message) => message.messageId));
  t.equal(s.transfers.get(s.peer, id)?.state, 'sent');
});
