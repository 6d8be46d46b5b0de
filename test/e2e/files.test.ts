import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';

/**
 * File transfers through the built extension when things go wrong: either
 * node killed with SIGKILL mid-transfer and started again on its data dir,
 * a message sent while a file is under way, the receiver's limits, and a
 * source file edited while it is being sent.
 *
 * Each file is large enough that a third of it is a clear point mid-way:
 * in 64 KiB chunks, 64 MiB are 1025 chunks and 16 MiB 257, so the window
 * (16 chunks) and the chunks in flight (8) are small beside what is left
 * to send. The kills use the larger one.
 */
const CHUNK_BYTES = 64 * 1024;
const LARGE_FILE_BYTES = 64 * 1024 * 1024 + 4321;
const FILE_BYTES = 16 * 1024 * 1024 + 4321;
const chunkCountOf = (size: number): number => Math.ceil(size / CHUNK_BYTES);
/** Chunk messages pending in the outbox per peer (P2P_COMM_FILE_WINDOW_CHUNKS, the default). */
const WINDOW_CHUNKS = 16;
/** Chunk messages on the wire without a receipt per peer (P2P_COMM_BULK_IN_FLIGHT, the default). */
const BULK_IN_FLIGHT = 8;
const ENV = {
  P2P_COMM_FILE_CHUNK_BYTES: String(CHUNK_BYTES),
  P2P_COMM_FILE_WINDOW_CHUNKS: String(WINDOW_CHUNKS),
  P2P_COMM_BULK_IN_FLIGHT: String(BULK_IN_FLIGHT),
};
const TRANSFER_TIMEOUT_MS = 40_000;

// About 30 s alone on two cores (two 64 MiB transfers, each node restarted once); room for a loaded machine.
t.setTimeout(120_000);

type Transfer = Record<string, unknown> & { state: string; reason: string | null; bytes_done: number; size: number; chunks_done: number };

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Waits for an event about the transfer, each check a call to the node (that is how its queued events reach the host). */
async function waitForEvent(node: TestNode, type: string, transferId: string): Promise<Record<string, unknown>> {
  return eventually(async () => {
    await node.call('status');
    return node.events.find((event) => event.type === type && event.data['transfer_id'] === transferId)?.data;
  }, `${type} for ${transferId}`, TRANSFER_TIMEOUT_MS);
}

async function transferOn(node: TestNode, peer: string, transferId: string): Promise<Transfer> {
  const { transfers } = (await node.call('files', { peer })) as { transfers: Transfer[] };
  const found = transfers.find((transfer) => transfer['transfer_id'] === transferId);
  if (found === undefined) throw new Error(`transfer ${transferId} is not listed`);
  return found;
}

/** Waits until the node's `files` shows at least `fraction` of the transfer done. */
async function progressReaches(node: TestNode, peer: string, transferId: string, fraction: number): Promise<Transfer> {
  return eventually(async () => {
    const transfer = await transferOn(node, peer, transferId);
    return transfer.bytes_done >= fraction * transfer.size ? transfer : false;
  }, `${fraction * 100} % of ${transferId}`, TRANSFER_TIMEOUT_MS);
}

/** Puts the bytes in the sender's files/outgoing and offers them; returns the transfer id once the peer lists the offer. */
async function offer(sender: TestNode, receiver: TestNode, receiverId: string, name: string, bytes: Uint8Array): Promise<string> {
  writeFileSync(join(sender.dataDir, 'files', 'outgoing', name), bytes);
  const sent = await sender.call('send_file', { peer: receiverId, source: { folder: name } });
  const transferId = sent['transfer_id'] as string;
  await waitForEvent(receiver, 'p2p.file.offered', transferId);
  return transferId;
}

async function pairedNodes(t: Test, bobEnv: Record<string, string> = {}): Promise<{ alice: TestNode; bob: TestNode; aId: string; bId: string }> {
  const alice = await startNode(t, { env: ENV });
  const bob = await startNode(t, { env: { ...ENV, ...bobEnv } });
  return { alice, bob, ...(await pairNodes(alice, bob)) };
}

type FilesStatus = { incoming: number; outgoing: number; pending_bytes: number; chunks_sent: number; chunks_resent: number; chunks_duplicate: number };

async function filesStatus(node: TestNode): Promise<FilesStatus> {
  return (await node.call('status'))['files'] as FilesStatus;
}

async function killHard(node: TestNode): Promise<void> {
  node.extension.kill('SIGKILL');
  await node.extension.exited;
}

/** The received file is in incoming/ once, under its name, equal to what was sent; no part file is left. */
function assertStoredOnce(t: Test, receiver: TestNode, name: string, bytes: Uint8Array): void {
  const files = join(receiver.dataDir, 'files');
  t.same(readdirSync(join(files, 'incoming')), [name], 'incoming/ holds exactly one copy');
  t.same(readdirSync(join(files, '.partial')), [], 'no part file is left');
  const stored = readFileSync(join(files, 'incoming', name));
  t.equal(stored.length, bytes.length, 'as many bytes as sent');
  t.equal(sha256(stored), sha256(bytes), 'and the same SHA-256');
}

t.test('kill -9 of the receiver mid-transfer: it resumes, the file arrives once and whole, only chunks no receipt covered go again', async (t) => {
  const { alice, bob, aId, bId } = await pairedNodes(t);
  const bytes = randomBytes(LARGE_FILE_BYTES);
  const transferId = await offer(alice, bob, bId, 'large.bin', bytes);
  await bob.call('accept_file', { peer: aId, transfer_id: transferId });

  const before = await progressReaches(bob, aId, transferId, 0.3);
  t.ok(before.bytes_done < before.size, `killed mid-way, ${before.chunks_done} of ${chunkCountOf(bytes.length)} chunks recorded`);
  await killHard(bob);
  const bob2 = await startNode(t, { dataDir: bob.dataDir, env: ENV });

  t.match(await waitForEvent(bob2, 'p2p.file.received', transferId), { peer: aId, direction: 'incoming', size: bytes.length, sha256: sha256(bytes), path: 'incoming/large.bin' });
  t.match(await waitForEvent(alice, 'p2p.file.received', transferId), { peer: bId, direction: 'outgoing', sha256: sha256(bytes) });
  assertStoredOnce(t, bob2, 'large.bin', bytes);

  const read = await bob2.call('fetch_file', { peer: aId, transfer_id: transferId, offset: bytes.length - 1000, length: 1000 });
  t.ok(Buffer.from(read['data'] as string, 'base64').equals(bytes.subarray(bytes.length - 1000)), 'fetch_file reads the end of the file');

  // The sender lived through it: its outbox offered again, on the new session, only the chunks it had on the wire
  // without a receipt when the receiver died (P2P_COMM_BULK_IN_FLIGHT of them at most); every receipted chunk stays
  // delivered, and the chunks the receiver had stored but not yet written were taken from its inbox at start.
  const sender = await filesStatus(alice);
  t.equal(sender.chunks_sent, chunkCountOf(bytes.length), 'each chunk handed to the messenger once');
  t.ok(sender.chunks_resent <= BULK_IN_FLIGHT, `${sender.chunks_resent} chunks sent again, at most the ${BULK_IN_FLIGHT} in flight`);
  t.match(await filesStatus(bob2), { incoming: 0, pending_bytes: 0 });
});

t.test('kill -9 of the sender mid-transfer: it resumes, and sends again at most its window', async (t) => {
  const { alice, bob, aId, bId } = await pairedNodes(t);
  const bytes = randomBytes(LARGE_FILE_BYTES);
  const transferId = await offer(alice, bob, bId, 'large.bin', bytes);
  await bob.call('accept_file', { peer: aId, transfer_id: transferId });

  await progressReaches(bob, aId, transferId, 0.3);
  await killHard(alice);
  t.not((await transferOn(bob, aId, transferId)).state, 'received', 'the sender died mid-way');
  const alice2 = await startNode(t, { dataDir: alice.dataDir, env: ENV });

  t.match(await waitForEvent(bob, 'p2p.file.received', transferId), { direction: 'incoming', sha256: sha256(bytes) });
  t.match(await waitForEvent(alice2, 'p2p.file.received', transferId), { direction: 'outgoing', sha256: sha256(bytes) });
  assertStoredOnce(t, bob, 'large.bin', bytes);

  // At the restart, what the outbox holds of the transfer is the window: chunks handed over and not known delivered.
  // Every one of them may have gone out before the kill, so each counts as sent again, and nothing else does.
  const sender = await filesStatus(alice2);
  t.ok(sender.chunks_resent <= WINDOW_CHUNKS, `${sender.chunks_resent} chunks sent again, at most the window of ${WINDOW_CHUNKS}`);
  t.ok(sender.chunks_sent < chunkCountOf(bytes.length) * 0.7 + WINDOW_CHUNKS, `the restarted sender handed over only what was left (${sender.chunks_sent} chunks)`);
});

t.test('a message sent mid-transfer is received before the transfer ends', async (t) => {
  const { alice, bob, aId, bId } = await pairedNodes(t);
  const transferId = await offer(alice, bob, bId, 'during.bin', randomBytes(FILE_BYTES));
  await bob.call('accept_file', { peer: aId, transfer_id: transferId });
  await progressReaches(bob, aId, transferId, 0.1);

  const sent = await alice.call('send', { peer: bId, type: 'text', content: 'while the file goes' });
  const got = await eventually(async () => {
    const { messages } = (await bob.call('receive', { peer: aId })) as { messages: { message_id: string; content: unknown }[] };
    return messages.find((message) => message.message_id === sent['message_id']);
  }, 'the message at bob', TRANSFER_TIMEOUT_MS);
  const atArrival = await transferOn(bob, aId, transferId);
  t.equal(got.content, 'while the file goes');
  t.not(atArrival.state, 'received', `the message came first, with ${atArrival.chunks_done} of ${chunkCountOf(FILE_BYTES)} chunks recorded`);
  await waitForEvent(bob, 'p2p.file.received', transferId);
});

t.test('limits: offers above the receiver\'s file size or open offers are declined at once; an accept above its pending bytes is refused', async (t) => {
  const MiB = 1024 * 1024;
  const { alice, bob, aId, bId } = await pairedNodes(t, {
    P2P_COMM_FILE_MAX_BYTES: String(4 * MiB),
    P2P_COMM_FILE_MAX_PENDING_BYTES: String(5 * MiB),
    P2P_COMM_FILE_MAX_OFFERS_PER_PEER: '2',
  });

  writeFileSync(join(alice.dataDir, 'files', 'outgoing', 'huge.bin'), randomBytes(4 * MiB + 1));
  const huge = (await alice.call('send_file', { peer: bId, source: { folder: 'huge.bin' } }))['transfer_id'] as string;
  t.match(await waitForEvent(bob, 'p2p.file.failed', huge), { peer: aId, direction: 'incoming', reason: 'too_large' });
  t.match(await waitForEvent(alice, 'p2p.file.failed', huge), { peer: bId, direction: 'outgoing', reason: 'too_large' });
  t.match(await transferOn(bob, aId, huge), { state: 'declined', reason: 'too_large' }, 'listed as declined, so the user sees why');
  t.notOk(bob.events.some((event) => event.type === 'p2p.file.offered' && event.data['transfer_id'] === huge), 'never offered to the user');

  const first = await offer(alice, bob, bId, 'first.bin', randomBytes(3 * MiB));
  const second = await offer(alice, bob, bId, 'second.bin', randomBytes(3 * MiB));
  writeFileSync(join(alice.dataDir, 'files', 'outgoing', 'third.bin'), randomBytes(1024));
  const third = (await alice.call('send_file', { peer: bId, source: { folder: 'third.bin' } }))['transfer_id'] as string;
  t.match(await waitForEvent(alice, 'p2p.file.failed', third), { reason: 'limit' }, 'a third open offer is one more than P2P_COMM_FILE_MAX_OFFERS_PER_PEER');
  t.match(await waitForEvent(bob, 'p2p.file.failed', third), { reason: 'limit' });
  t.match(await transferOn(bob, aId, third), { state: 'declined', reason: 'limit' });
  // The sender stops, so the first transfer stays accepted and pending, whatever the speed of the machine.
  await alice.extension.shutdown();
  t.match(await bob.call('accept_file', { peer: aId, transfer_id: first }), { state: 'accepted', reserved_bytes: 3 * MiB });
  const refused = await bob.attempt('accept_file', { peer: aId, transfer_id: second });
  t.equal(refused.error?.code, -32020, 'FILE_LIMIT');
  t.match(refused.error?.message, /would make 6\.0 MiB of accepted transfers pending, above the limit of 5\.0 MiB \(P2P_COMM_FILE_MAX_PENDING_BYTES\)/);
  t.match(await transferOn(bob, aId, second), { state: 'offered' }, 'the refused offer can still be accepted later');
});

t.test('a source file edited mid-transfer: both sides fail with source_changed', async (t) => {
  const { alice, bob, aId, bId } = await pairedNodes(t);
  const bytes = randomBytes(FILE_BYTES);
  const transferId = await offer(alice, bob, bId, 'edited.bin', bytes);
  await bob.call('accept_file', { peer: aId, transfer_id: transferId });
  await progressReaches(bob, aId, transferId, 0.3);

  // With the receiver down nothing more is delivered, so the sender has read at most its window past what was
  // delivered: the last chunk is still unread when it is edited, whatever the speed of the machine.
  await bob.extension.shutdown();
  const delivered = (await transferOn(alice, bId, transferId)).chunks_done;
  t.ok(delivered + WINDOW_CHUNKS < chunkCountOf(FILE_BYTES) - 1, `${delivered} chunks delivered: the last one is not read yet`);
  const source = openSync(join(alice.dataDir, 'files', 'outgoing', 'edited.bin'), 'r+');
  writeSync(source, Buffer.from([(bytes[FILE_BYTES - 1] ?? 0) ^ 0xff]), 0, 1, FILE_BYTES - 1);
  closeSync(source);
  const bob2 = await startNode(t, { dataDir: bob.dataDir, env: ENV });

  t.match(await waitForEvent(alice, 'p2p.file.failed', transferId), { peer: bId, direction: 'outgoing', reason: 'source_changed' });
  t.match(await waitForEvent(bob2, 'p2p.file.failed', transferId), { peer: aId, direction: 'incoming', reason: 'source_changed' });
  t.match(await transferOn(alice, bId, transferId), { state: 'cancelled', reason: 'source_changed' });
  t.match(await transferOn(bob2, aId, transferId), { state: 'cancelled', reason: 'source_changed' });
  t.same(readdirSync(join(bob2.dataDir, 'files', 'incoming')), [], 'nothing was stored');
  t.same(readdirSync(join(bob2.dataDir, 'files', '.partial')), [], 'the part file is gone');
});
