import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import {
  bytesDone,
  chunkHash,
  type NewTransfer,
  type Transfer,
  type TransferLimits,
  TransferStore,
  TRANSFERS_FILE_NAME,
} from '../../extension/files/transfer-store';
import { tempDir } from '../helpers/extension';

const START = Date.parse('2026-11-30T10:00:00.000Z');
const DAY = 24 * 60 * 60 * 1000;
const CHUNK = 65_536;

function openStore(t: Test, limits: Partial<TransferLimits> = {}) {
  const dir = tempDir(t);
  const clock = { ms: START };
  const handle = {
    dir,
    clock,
    log: join(dir, TRANSFERS_FILE_NAME),
    store: TransferStore.open(dir, limits, () => clock.ms),
    async reopen(): Promise<TransferStore> {
      await handle.store.close();
      handle.store = TransferStore.open(dir, limits, () => clock.ms);
      return handle.store;
    },
  };
  t.teardown(() => handle.store.close().catch(() => undefined));
  return handle;
}

const peer = (): string => peerIdFromPublicKey(new Uint8Array(randomBytes(32)));
const newId = (): string => randomBytes(16).toString('hex');

function offerJson(size: number, name = 'report.pdf'): string {
  return JSON.stringify({ v: 1, name, size, sha256: 'ab'.repeat(32), chunk_size: CHUNK, media_type: 'application/pdf', description: 'Q3 numbers' });
}

function outgoing(peerId: string, size = 3 * CHUNK, extra: Partial<NewTransfer> = {}): NewTransfer {
  return { direction: 'outgoing', peerId, transferId: newId(), offerJson: offerJson(size), correlationId: 'task-7', source: 'folder', sourcePath: 'q3/report.pdf', expiresAt: START + 7 * DAY, proof: null, ...extra };
}

function incoming(peerId: string, size = 3 * CHUNK, extra: Partial<NewTransfer> = {}): NewTransfer {
  return { direction: 'incoming', peerId, transferId: newId(), offerJson: offerJson(size), correlationId: null, source: 'remote', sourcePath: '', expiresAt: START + 7 * DAY, proof: new Uint8Array([1, 2, 3, 4]), ...extra };
}

function must(transfer: Transfer | undefined): Transfer {
  if (transfer === undefined) throw new Error('the transfer is not there');
  return transfer;
}

t.test('an outgoing transfer survives reopening with every record kind it uses', async (t) => {
  const handle = openStore(t);
  const alice = peer();
  const input = outgoing(alice);
  const added = await handle.store.addTransfer(input);
  t.equal(added.state, 'hashing', 'an outgoing transfer starts hashing');
  t.equal(added.chunkCount, 3);
  const hashes = new Uint8Array(randomBytes(96));
  await handle.store.setChunkHashes(alice, input.transferId, hashes);
  handle.clock.ms += 1000;
  for (const state of ['offered', 'accepted', 'sending'] as const) await handle.store.setState(alice, input.transferId, state);
  const messageIds = [newId(), newId()];
  await handle.store.recordSent(alice, input.transferId, 0, messageIds[0] as string);
  await handle.store.recordSent(alice, input.transferId, 1, messageIds[1] as string);
  await handle.store.addChunksDone(alice, input.transferId, [0]);

  const store = await handle.reopen();
  const transfer = must(store.get(alice, input.transferId));
  t.match(transfer, {
    direction: 'outgoing',
    peerId: alice,
    offerJson: input.offerJson,
    offer: { name: 'report.pdf', size: 3 * CHUNK, sha256: 'ab'.repeat(32), chunkSize: CHUNK, mediaType: 'application/pdf', description: 'Q3 numbers' },
    correlationId: 'task-7',
    source: 'folder',
    sourcePath: 'q3/report.pdf',
    offeredAt: START,
    expiresAt: START + 7 * DAY,
    proof: null,
    state: 'sending',
    reason: null,
    updatedAt: START + 1000,
    storedAs: null,
  });
  t.same(transfer.chunkHashes, hashes);
  t.same(chunkHash(transfer, 2), hashes.subarray(64, 96), 'a chunk’s hash');
  t.same([...transfer.chunksDone], [0]);
  t.same([...transfer.chunksSent], [[1, messageIds[1]]], 'a chunk sent and not done is what a restart asks the outbox about; a done one is not');
  t.equal(bytesDone(transfer), CHUNK);
});

t.test('an incoming transfer survives reopening: proof, chunks, name and final state', async (t) => {
  const handle = openStore(t);
  const bob = peer();
  const input = incoming(bob, 2 * CHUNK + 10);
  t.equal((await handle.store.addTransfer(input)).state, 'offered', 'an incoming transfer starts offered');
  for (const state of ['accepted', 'receiving'] as const) await handle.store.setState(bob, input.transferId, state);
  t.equal(handle.store.pendingIncomingBytes(), 2 * CHUNK + 10, 'accepted bytes count as pending');
  await handle.store.addChunksDone(bob, input.transferId, [2, 0]);
  await handle.store.setState(bob, input.transferId, 'verifying');
  await handle.store.recordStoredAs(bob, input.transferId, 'report (2).pdf');

  let store = await handle.reopen();
  let transfer = must(store.get(bob, input.transferId));
  t.equal(transfer.state, 'verifying', 'a crash after the link: verifying, with the name recorded');
  t.equal(transfer.storedAs, 'report (2).pdf');
  t.same(transfer.proof, new Uint8Array([1, 2, 3, 4]));
  t.same([...transfer.chunksDone].sort(), [0, 2]);
  t.equal(bytesDone(transfer), CHUNK + 10, 'the last chunk is short');
  await store.addChunksDone(bob, input.transferId, [1]);
  await store.setState(bob, input.transferId, 'received');

  store = await handle.reopen();
  transfer = must(store.get(bob, input.transferId));
  t.equal(transfer.state, 'received');
  t.equal(bytesDone(transfer), 2 * CHUNK + 10);
  t.equal(store.pendingIncomingBytes(), 0, 'received bytes are no longer pending');
  t.same(store.list({ direction: 'incoming' }).map((listed) => listed.transferId), [input.transferId]);
  t.same(store.list({ direction: 'outgoing' }), []);
});

t.test('a torn last record is dropped at reopening, as in the other journals; damage before the end is refused', async (t) => {
  const handle = openStore(t);
  const alice = peer();
  const input = incoming(alice);
  await handle.store.addTransfer(input);
  await handle.store.setState(alice, input.transferId, 'accepted');
  await handle.store.addChunksDone(alice, input.transferId, [1]);
  await handle.store.close();
  truncateSync(handle.log, statSync(handle.log).size - 3);

  const store = await handle.reopen();
  const transfer = must(store.get(alice, input.transferId));
  t.equal(transfer.state, 'accepted', 'what came before the torn record is there');
  t.same([...transfer.chunksDone], [], 'the torn CHUNKS record is not');
  t.same(await store.addChunksDone(alice, input.transferId, [1]), [1], 'the chunk is recorded again when the inbox hands it over again');
  await handle.reopen();
  t.same([...must(handle.store.get(alice, input.transferId)).chunksDone], [1]);

  const declined = { ...incoming(peer()), endedAs: { state: 'declined', reason: 'limit' } } as const;
  await handle.store.addTransfer(declined);
  await handle.store.close();
  truncateSync(handle.log, statSync(handle.log).size - 3);
  await handle.reopen();
  t.equal(handle.store.get(declined.peerId, declined.transferId)?.state, 'offered', 'a crash between an offer declined on arrival and its STATE leaves it offered');
  t.equal((await handle.store.addTransfer(declined)).state, 'declined', 'the offer handed over again finishes it');

  await handle.store.close();
  const bytes = readFileSync(handle.log);
  bytes[40] = (bytes[40] as number) ^ 0xff;
  writeFileSync(handle.log, bytes);
  t.throws(() => TransferStore.open(handle.dir), { errorName: 'STATE_FILE_CORRUPT', message: /file transfer log|is corrupt/ });
});

t.test('chunks are recorded in any order, once each, and only those the file has', async (t) => {
  const handle = openStore(t);
  const alice = peer();
  const input = incoming(alice, 9 * CHUNK + 100);
  await handle.store.addTransfer(input);
  await handle.store.setState(alice, input.transferId, 'receiving');
  t.same(await handle.store.addChunksDone(alice, input.transferId, [5, 2, 9]), [2, 5, 9]);
  const size = statSync(handle.log).size;
  t.same(await handle.store.addChunksDone(alice, input.transferId, [9, 2]), [], 'repeats record nothing');
  t.equal(statSync(handle.log).size, size, 'and write nothing');
  t.same(await handle.store.addChunksDone(alice, input.transferId, [3, 2, 3]), [3]);
  await t.rejects(handle.store.addChunksDone(alice, input.transferId, [10]), /has chunks 0 to 9, not 10/);
  t.same(await handle.store.addChunksDone(alice, input.transferId, [7], { lazy: true }), [7]);
  t.ok(must(handle.store.get(alice, input.transferId)).chunksDone.has(7), 'a lazy record is applied at once');

  const store = await handle.reopen();
  const transfer = must(store.get(alice, input.transferId));
  t.same([...transfer.chunksDone].sort((a, b) => a - b), [2, 3, 5, 7, 9], 'the lazy record was written by close');
  t.equal(bytesDone(transfer), 4 * CHUNK + 100);
});

t.test('repeats change nothing; what contradicts the record is a CONFLICT', async (t) => {
  const handle = openStore(t);
  const alice = peer();
  const out = outgoing(alice);
  const first = await handle.store.addTransfer(out);
  const hashes = new Uint8Array(randomBytes(96));
  await handle.store.setChunkHashes(alice, out.transferId, hashes);
  const size = statSync(handle.log).size;
  t.equal(await handle.store.addTransfer(out), first, 'the same offer again is the transfer recorded');
  await handle.store.setChunkHashes(alice, out.transferId, hashes);
  t.equal(await handle.store.setState(alice, out.transferId, 'hashing'), false, 'the state it is in');
  t.equal(statSync(handle.log).size, size, 'no record for any of them');

  await t.rejects(handle.store.addTransfer({ ...out, offerJson: offerJson(5) }), { errorName: 'CONFLICT', message: /recorded already/ });
  await t.rejects(handle.store.addTransfer({ ...incoming(alice), transferId: out.transferId }), { errorName: 'CONFLICT', message: /the other way/ }, 'an offer reusing an outgoing id');
  await t.rejects(handle.store.setChunkHashes(alice, out.transferId, new Uint8Array(96)), { errorName: 'CONFLICT', message: /other chunk hashes/ });
  await t.rejects(handle.store.setChunkHashes(alice, out.transferId, new Uint8Array(64)), /3 chunks, so 96 bytes of hashes, not 64/);

  t.equal(await handle.store.setState(alice, out.transferId, 'sending'), true, 'a step may be skipped forward');
  await t.rejects(handle.store.setState(alice, out.transferId, 'offered'), { errorName: 'CONFLICT', message: /does not go back/ });
  await t.rejects(handle.store.setState(alice, out.transferId, 'verifying'), { errorName: 'CONFLICT', message: /an outgoing transfer is never verifying/ });
  const messageId = newId();
  await handle.store.recordSent(alice, out.transferId, 2, messageId);
  const afterSent = statSync(handle.log).size;
  await handle.store.recordSent(alice, out.transferId, 2, messageId);
  t.equal(statSync(handle.log).size, afterSent, 'the same chunk sent as the same message again writes nothing');
  await handle.store.addChunksDone(alice, out.transferId, [2]);
  t.same([...must(handle.store.get(alice, out.transferId)).chunksSent], [], 'a chunk done is no longer waited for');
  await handle.store.setState(alice, out.transferId, 'cancelled', 'source_changed');
  await t.rejects(handle.store.setState(alice, out.transferId, 'received'), { errorName: 'CONFLICT', message: /is cancelled already/ });
  t.same(await handle.store.addChunksDone(alice, out.transferId, [0]), [], 'a receipt after the end records nothing');
  t.match(must(handle.store.get(alice, out.transferId)), { state: 'cancelled', reason: 'source_changed' });
  await t.rejects(handle.store.setState(alice, out.transferId, 'failed', 'Not A Code'), /a reason is a code/);

  const inc = incoming(alice);
  await handle.store.addTransfer(inc);
  await handle.store.recordStoredAs(alice, inc.transferId, 'a.txt');
  await handle.store.recordStoredAs(alice, inc.transferId, 'a.txt');
  await t.rejects(handle.store.recordStoredAs(alice, inc.transferId, 'b.txt'), { errorName: 'CONFLICT', message: /stored as "a.txt" already/ });
  await t.rejects(handle.store.recordStoredAs(alice, inc.transferId, '../b.txt'), /one plain name/);
  await t.rejects(handle.store.recordSent(alice, inc.transferId, 0, newId()), { errorName: 'CONFLICT', message: /only outgoing chunks are sent/ });
  await t.rejects(handle.store.setState(peer(), inc.transferId, 'accepted'), { errorName: 'NOT_FOUND' , message: /no file transfer/ }, 'the key is the peer and the id');
});

t.test('what the caller gives is checked before it is written', async (t) => {
  const { store } = openStore(t);
  const alice = peer();
  await t.rejects(store.addTransfer({ ...outgoing(alice), transferId: 'xyz' }), { errorName: 'INVALID_INPUT', message: /a transfer id is 32/ });
  await t.rejects(store.addTransfer({ ...outgoing(alice), offerJson: '{"v":1,"name":"a"}' }), { errorName: 'INVALID_INPUT', message: /cannot be recorded: .*size/ });
  await t.rejects(store.addTransfer({ ...outgoing(alice), offerJson: JSON.stringify({ v: 1, name: 'a', size: 1, sha256: 'ab'.repeat(32), chunk_size: 10 }) }), {
    errorName: 'INVALID_INPUT',
    message: /cannot be recorded: .*chunk_size/,
  });
  await t.rejects(store.addTransfer({ ...outgoing(alice), correlationId: 'a b' }), { errorName: 'INVALID_INPUT', message: /correlation id/ });
  await t.rejects(store.addTransfer({ ...outgoing(alice), source: 'remote' }), { errorName: 'INVALID_INPUT', message: /source remote/ });
  await t.rejects(store.addTransfer({ ...outgoing(alice), proof: new Uint8Array(3) }), { errorName: 'INVALID_INPUT', message: /only an incoming transfer has a proof/ });
  t.same(store.list(), [], 'nothing was recorded');
});

t.test('limits: outgoing transfers open, offers per peer, file size', async (t) => {
  const handle = openStore(t, { maxOutgoing: 2, maxOffersPerPeer: 1, maxFileBytes: 4 * CHUNK });
  const alice = peer();
  const bob = peer();
  const first = await handle.store.addTransfer(outgoing(alice));
  await handle.store.addTransfer(outgoing(bob));
  await t.rejects(handle.store.addTransfer(outgoing(alice)), { errorName: 'FILE_LIMIT', message: /2 outgoing file transfers are not finished.*P2P_COMM_FILE_MAX_OUTGOING/ });
  await handle.store.setState(alice, first.transferId, 'failed', 'storage_error');
  t.equal(handle.store.openOutgoingCount(), 1);
  await handle.store.addTransfer(outgoing(alice));

  await handle.store.addTransfer(incoming(alice));
  await t.rejects(handle.store.addTransfer(incoming(alice)), { errorName: 'FILE_LIMIT', message: /1 file offers of .* are not answered yet/ });
  const declined = await handle.store.addTransfer({ ...incoming(alice), endedAs: { state: 'declined', reason: 'limit' } });
  t.match(declined, { state: 'declined', reason: 'limit' }, 'an offer declined on arrival is listed');
  await handle.store.addTransfer(incoming(bob));
  t.equal(handle.store.openOffersFrom(alice), 1, 'per peer');

  await t.rejects(handle.store.addTransfer(incoming(bob, 4 * CHUNK + 1)), { errorName: 'FILE_LIMIT', message: /P2P_COMM_FILE_MAX_BYTES/ });
  const tooLarge = await handle.store.addTransfer({ ...incoming(peer(), 4 * CHUNK + 1), endedAs: { state: 'declined', reason: 'too_large' } });
  t.equal(tooLarge.state, 'declined');

  const store = await handle.reopen();
  t.equal(store.list({ peerId: alice }).length, 4);
  t.equal(store.get(alice, declined.transferId)?.reason, 'limit');
});

t.test('finished transfers are forgotten past the retention and beyond the newest per peer; open ones never', async (t) => {
  const handle = openStore(t, { maxFinishedPerPeer: 2, retentionMs: 7 * DAY });
  const alice = peer();
  const ended: string[] = [];
  for (let i = 0; i < 3; i += 1) {
    const transfer = await handle.store.addTransfer(incoming(alice));
    handle.clock.ms += 1000;
    await handle.store.setState(alice, transfer.transferId, 'declined', 'user');
    ended.push(transfer.transferId);
  }
  const open = await handle.store.addTransfer(incoming(alice));
  t.same(handle.store.list({ peerId: alice }).map((transfer) => transfer.transferId), [ended[1], ended[2], open.transferId], 'the oldest finished one went at the next offer');
  let store = await handle.reopen();
  t.same(store.list({ peerId: alice }).map((transfer) => transfer.transferId), [ended[1], ended[2], open.transferId], 'and stays gone after reopening');

  handle.clock.ms += 8 * DAY;
  store = await handle.reopen();
  t.same(store.list({ peerId: alice }).map((transfer) => transfer.transferId), [open.transferId], 'finished ones past the retention are gone; the open one stays');
});

t.test('a compaction keeps every live transfer as it was, and leaves the forgotten ones out', async (t) => {
  const handle = openStore(t, { compactionMinBytes: 1, maxFinishedPerPeer: 1 });
  const alice = peer();
  const out = outgoing(alice);
  await handle.store.addTransfer(out);
  const hashes = new Uint8Array(randomBytes(96));
  await handle.store.setChunkHashes(alice, out.transferId, hashes);
  await handle.store.setState(alice, out.transferId, 'sending');
  const sentId = newId();
  await handle.store.recordSent(alice, out.transferId, 1, sentId);
  await handle.store.addChunksDone(alice, out.transferId, [2, 0]);
  const inc = incoming(alice);
  await handle.store.addTransfer(inc);
  await handle.store.recordStoredAs(alice, inc.transferId, 'x.pdf');
  await handle.store.setState(alice, inc.transferId, 'failed', 'hash_mismatch');
  for (let i = 0; i < 20; i += 1) {
    const declined = await handle.store.addTransfer({ ...incoming(alice), endedAs: { state: 'declined', reason: 'user' } });
    handle.clock.ms += 1;
    t.ok(declined);
  }
  const offerBytes = Buffer.byteLength(offerJson(3 * CHUNK));
  t.ok(statSync(handle.log).size < 10 * offerBytes, `the file was compacted along the way: the 20 offers forgotten alone wrote more than ${20 * offerBytes} bytes`);
  const store = await handle.reopen();
  const transfer = must(store.get(alice, out.transferId));
  t.match(transfer, { state: 'sending', offeredAt: START });
  t.same(transfer.chunkHashes, hashes);
  t.same([...transfer.chunksDone].sort(), [0, 2]);
  t.same([...transfer.chunksSent], [[1, sentId]]);
  t.equal(store.list({ peerId: alice, direction: 'incoming' }).length, 1, 'one finished incoming transfer kept');
  t.equal(store.get(alice, inc.transferId), undefined, 'the older finished one forgotten');
});
