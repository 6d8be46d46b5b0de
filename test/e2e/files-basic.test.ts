import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';

/**
 * A file through the built extension, as a plugin drives it: the person
 * puts it in files/outgoing, send_file offers it, the peer sees
 * p2p.file.offered and accepts, both sides see p2p.file.received, and
 * fetch_file gives back the same bytes. And a decline.
 */

/** 64 KiB chunks: a 1 MiB file is 16 chunks, several receipts and window refills. */
const ENV = { P2P_COMM_FILE_CHUNK_BYTES: '65536' };

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function eventOf(node: TestNode, type: string, transferId: string): Record<string, unknown> | undefined {
  return node.events.find((event) => event.type === type && event.data['transfer_id'] === transferId)?.data;
}

/** Waits for an event, each check a call to the node (that is how its queued events reach the host). */
async function waitForEvent(node: TestNode, type: string, transferId: string): Promise<Record<string, unknown>> {
  return eventually(async () => {
    await node.call('status');
    return eventOf(node, type, transferId);
  }, `${type} for ${transferId}`, 30_000);
}

async function offer(alice: TestNode, bId: string, name: string, bytes: Uint8Array): Promise<string> {
  writeFileSync(join(alice.dataDir, 'files', 'outgoing', name), bytes);
  const sent = await alice.call('send_file', { peer: bId, source: { folder: name }, description: 'for the e2e test', correlation_id: 'ctx-1' });
  t.match(sent, { transfer_id: /^[0-9a-f]{32}$/, state: 'hashing', size: bytes.length, name });
  return sent['transfer_id'] as string;
}

t.test('a file from the outgoing folder: offered, accepted, received on both sides, fetched back byte for byte', async (t) => {
  const alice = await startNode(t, { env: ENV });
  const bob = await startNode(t, { env: ENV });
  const { aId, bId } = await pairNodes(alice, bob);
  const bytes = randomBytes(1024 * 1024 + 123);
  const transferId = await offer(alice, bId, 'plan.bin', bytes);

  const offered = await waitForEvent(bob, 'p2p.file.offered', transferId);
  t.match(offered, { peer: aId, transfer_id: transferId, name: 'plan.bin', size: bytes.length, sha256: sha256(bytes) });
  t.equal(offered['fingerprint'], (await alice.call('identity'))['fingerprint'], 'the offer names the sender by the fingerprint of its key');
  const [listed] = (await bob.call('files', { peer: aId }))['transfers'] as Record<string, unknown>[];
  t.match(listed, { transfer_id: transferId, direction: 'incoming', state: 'offered', description: 'for the e2e test', correlation_id: 'ctx-1' });

  const accepted = await bob.call('accept_file', { peer: aId, transfer_id: transferId });
  t.match(accepted, { transfer_id: transferId, reserved_bytes: bytes.length });

  const atBob = await waitForEvent(bob, 'p2p.file.received', transferId);
  t.match(atBob, { peer: aId, direction: 'incoming', name: 'plan.bin', size: bytes.length, sha256: sha256(bytes), path: 'incoming/plan.bin' });
  const atAlice = await waitForEvent(alice, 'p2p.file.received', transferId);
  t.match(atAlice, { peer: bId, direction: 'outgoing', sha256: sha256(bytes) });
  t.ok(bob.events.some((event) => event.type === 'p2p.file.progress' && event.data['transfer_id'] === transferId), 'progress was reported');

  const pieces: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const read = await bob.call('fetch_file', { peer: aId, transfer_id: transferId, offset, length: 1024 * 1024 });
    t.equal(read['sha256'], sha256(bytes));
    pieces.push(Buffer.from(read['data'] as string, 'base64'));
    offset += pieces.at(-1)?.length ?? 0;
    if (read['eof'] === true) break;
  }
  const fetched = Buffer.concat(pieces);
  t.ok(fetched.equals(bytes), 'fetch_file gives the bytes sent');
  t.equal(sha256(fetched), sha256(bytes), 'and their SHA-256 is the offered one');

  const aliceFiles = (await alice.call('status'))['files'] as Record<string, number>;
  t.match(aliceFiles, { outgoing: 0, chunks_sent: 17, chunks_resent: 0 }, 'each of the 17 chunks sent once');
  t.match((await bob.call('status'))['files'], { incoming: 0, pending_bytes: 0, chunks_duplicate: 0 });
});

t.test('a declined offer ends on both sides and nothing is stored', async (t) => {
  const alice = await startNode(t, { env: ENV });
  const bob = await startNode(t, { env: ENV });
  const { aId, bId } = await pairNodes(alice, bob);
  const transferId = await offer(alice, bId, 'unwanted.bin', randomBytes(4096));
  await waitForEvent(bob, 'p2p.file.offered', transferId);
  t.same(await bob.call('cancel_file', { peer: aId, transfer_id: transferId }), { transfer_id: transferId, state: 'declined' });
  t.match(await waitForEvent(alice, 'p2p.file.failed', transferId), { peer: bId, direction: 'outgoing', reason: 'user' });
  t.match(await waitForEvent(bob, 'p2p.file.failed', transferId), { peer: aId, direction: 'incoming', reason: 'user' });
  const [onAlice] = (await alice.call('files', { peer: bId }))['transfers'] as Record<string, unknown>[];
  t.match(onAlice, { state: 'declined', reason: 'user' });
  const refused = await bob.attempt('fetch_file', { peer: aId, transfer_id: transferId, offset: 0, length: 1 });
  t.match(refused.error?.message, /is declined; only a received file/);
});
