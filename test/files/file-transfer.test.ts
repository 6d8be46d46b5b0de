import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULT_FILES_CONFIG } from '../../extension/config';
import { CAPABILITIES } from '../../extension/node-parts';
import type { StoredMessage } from '../../extension/store/inbox';
import { pairedNodes } from '../helpers/in-process-node';
import { eventually } from '../helpers/node';

const MIB = 1024 * 1024;
const CHUNK = 64 * 1024;

/** 32 chunks for 2 MiB: more than the window, so the transfer needs refills. */
const FILES_CONFIG = { ...DEFAULT_FILES_CONFIG, chunkBytes: CHUNK };

t.test('a 2 MiB file goes from A’s outgoing folder into B’s incoming folder, a message overtaking its chunks', async (t) => {
  const { a, b, aId, bId } = await pairedNodes(t, FILES_CONFIG);
  t.ok(CAPABILITIES.includes('files-v1'), 'files-v1 is announced');
  await eventually(async () => a.messenger.helloOf(bId)?.capabilities.includes('files-v1'), 'B’s hello to list files-v1');

  const stored: StoredMessage['type'][] = [];
  b.inbox.on('stored', (message: StoredMessage) => stored.push(message.type));

  const bytes = randomBytes(2 * MIB);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(join(a.files.folders.outgoing, 'plan.bin'), bytes);
  const started = await a.files.sender.sendFromFolder({ peer: bId, path: 'plan.bin', correlationId: 'ctx-1' });
  if (!('transferId' in started)) throw new Error('no transfer');
  const { transferId } = started;

  const offered = await eventually(async () => b.files.transfers.get(aId, transferId), 'B to record the offer');
  t.match(offered, { direction: 'incoming', state: 'offered', correlationId: 'ctx-1' });
  t.equal(offered.offer.sha256, sha256, 'the offer carries the whole file hash');
  await b.files.receiver.accept(aId, transferId);

  // Once A hands its first window of chunks to the messenger, a message to B goes ahead of those still waiting.
  await eventually(async () => a.files.transfers.get(bId, transferId)?.state === 'sending', 'A to start sending');
  await a.messenger.send({ peer: bId, type: 'text', content: 'look at page 3', correlationId: null, ttlSeconds: null });

  const received = await eventually(async () => {
    const transfer = b.files.transfers.get(aId, transferId);
    return transfer?.state === 'received' ? transfer : undefined;
  }, 'B to receive the file');
  t.ok(received.storedAs !== null);
  const arrived = readFileSync(join(b.files.folders.incoming, received.storedAs ?? ''));
  t.ok(arrived.equals(bytes), 'B’s incoming file holds the same bytes');
  t.equal(createHash('sha256').update(arrived).digest('hex'), sha256, 'and the offered hash');
  await eventually(async () => a.files.transfers.get(bId, transferId)?.state === 'received', 'A to learn the file was received');

  const chunks = stored.filter((type) => type === 'file_chunk').length;
  t.equal(chunks, 32, 'every chunk stored once');
  const chunksAfterText = stored.slice(stored.indexOf('text')).filter((type) => type === 'file_chunk').length;
  t.ok(
    chunksAfterText >= chunks - DEFAULT_FILES_CONFIG.windowChunks,
    `the message was stored before the chunks beyond the first window (${chunksAfterText} of ${chunks} after it)`,
  );
  t.match(
    await eventually(async () => b.events.seen.find((event) => event.type === 'p2p.file.received')?.data, 'B’s received event'),
    { peer: aId, transfer_id: transferId, direction: 'incoming', sha256 },
  );
  t.match(
    await eventually(async () => a.events.seen.find((event) => event.type === 'p2p.file.received')?.data, 'A’s received event'),
    { peer: bId, transfer_id: transferId, direction: 'outgoing', sha256 },
  );
  t.same(a.files.stats(), { chunksSent: 32, chunksResent: 0, chunksReceived: 0, chunksDuplicate: 0 });
});

t.test('a revocation mid-transfer fails the transfer on both sides and removes the part file', async (t) => {
  const { a, b, aId, bId } = await pairedNodes(t, FILES_CONFIG);

  writeFileSync(join(a.files.folders.outgoing, 'big.bin'), randomBytes(8 * MIB));
  const started = await a.files.sender.sendFromFolder({ peer: bId, path: 'big.bin' });
  if (!('transferId' in started)) throw new Error('no transfer');
  const { transferId } = started;
  await eventually(async () => b.files.transfers.get(aId, transferId), 'B to record the offer');
  await b.files.receiver.accept(aId, transferId);
  await eventually(async () => (b.files.transfers.get(aId, transferId)?.chunksDone.size ?? 0) > 0, 'B to write a first chunk');

  // What the revoke operation does on B.
  b.trust.revoke(aId);
  b.network.announceRevocation(aId);
  await b.messenger.revokedHere(aId);
  // B had nothing pending to A, so no settle call tells its file service: the sweep finds the unpaired peer.
  await b.files.sweep();
  t.match(b.files.transfers.get(aId, transferId), { state: 'failed', reason: 'revoked' });
  await b.files.receiver.whenIdle();
  t.same(readdirSync(b.files.folders.partial), [], 'the part file is removed');
  const onA = await eventually(async () => {
    const transfer = a.files.transfers.get(bId, transferId);
    return transfer?.state === 'failed' ? transfer : undefined;
  }, 'A to fail the transfer');
  t.equal(onA.reason, 'revoked_by_peer', 'A learns it from the revocation notice, through its failed chunks');
  t.match(
    await eventually(async () => a.events.seen.find((event) => event.type === 'p2p.file.failed')?.data, 'A’s failed event'),
    { transfer_id: transferId, direction: 'outgoing', reason: 'revoked_by_peer' },
  );
  const messageEvents = a.events.seen.filter((event) => event.type.startsWith('p2p.message.'));
  t.same([...new Set(messageEvents.map((event) => event.data['message_id']))], [transferId], 'message events for the offer only, none for a chunk');
});
