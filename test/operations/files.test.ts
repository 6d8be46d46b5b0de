import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULT_FILES_CONFIG } from '../../extension/config';
import { manifest } from '../../extension/common/manifest';
import { fingerprintOf, peerIdFromPublicKey } from '../../extension/common/peer-id';
import type { NodeContext } from '../../extension/operations/context';
import { fileStatus } from '../../extension/operations/files';
import { OperationRegistry } from '../../extension/operations/registry';
import { type InProcessNode, pairedNodes } from '../helpers/in-process-node';
import { eventually } from '../helpers/node';

const KIB = 1024;
const CHUNK = 64 * KIB;
/** Small limits, so that each can be reached with small files. */
const FILES_CONFIG = { ...DEFAULT_FILES_CONFIG, chunkBytes: CHUNK, maxFileBytes: 8 * CHUNK, maxPendingBytes: 6 * CHUNK };

const registry = new OperationRegistry(manifest.operations);

/** Runs an operation as the extension's dispatcher does: schema first, then the handler. */
async function call(node: InProcessNode, operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const outcome = await registry.run(operation, input, node as unknown as NodeContext);
  return outcome.data as Record<string, unknown>;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Puts `bytes` in A's files/outgoing, sends it to B, waits for B's offer and returns the transfer id. */
async function offerFromFolder(a: InProcessNode, b: InProcessNode, name: string, bytes: Uint8Array): Promise<string> {
  writeFileSync(join(a.files.folders.outgoing, name), bytes);
  const started = await call(a, 'send_file', { peer: b.identity.peerId, source: { folder: name } });
  const transferId = started['transfer_id'] as string;
  await eventually(async () => b.files.transfers.get(a.identity.peerId, transferId)?.state === 'offered', `B to record the offer of ${name}`);
  return transferId;
}

async function receivedOn(b: InProcessNode, aId: string, transferId: string): Promise<void> {
  await eventually(async () => b.files.transfers.get(aId, transferId)?.state === 'received', 'B to receive the file');
}

t.test('send_file from the folder, files on both sides, accept_file, fetch_file in bounded reads, status.files', async (t) => {
  const { a, b, aId, bId } = await pairedNodes(t, FILES_CONFIG);
  await eventually(async () => a.messenger.helloOf(bId)?.capabilities.includes('files-v1'), 'B’s hello');
  const bytes = randomBytes(3 * CHUNK + 17);
  mkdirSync(join(a.files.folders.outgoing, 'q3'));
  writeFileSync(join(a.files.folders.outgoing, 'q3', 'report.pdf'), bytes);
  const started = await call(a, 'send_file', {
    peer: bId,
    source: { folder: 'q3/report.pdf' },
    media_type: 'application/pdf',
    description: 'Q3 numbers',
    correlation_id: 'task-7',
  });
  t.match(started, { state: 'hashing', size: bytes.length, name: 'report.pdf' });
  const transferId = started['transfer_id'] as string;
  t.match(transferId, /^[0-9a-f]{32}$/);
  await eventually(async () => b.files.transfers.get(aId, transferId)?.state === 'offered', 'B to record the offer');

  const listed = (await call(b, 'files', { peer: aId }))['transfers'] as Record<string, unknown>[];
  t.equal(listed.length, 1);
  t.match(listed[0], {
    transfer_id: transferId,
    peer: aId,
    direction: 'incoming',
    name: 'report.pdf',
    size: bytes.length,
    sha256: sha256(bytes),
    media_type: 'application/pdf',
    description: 'Q3 numbers',
    correlation_id: 'task-7',
    state: 'offered',
    reason: null,
    bytes_done: 0,
    chunks_done: 0,
    chunks_total: 4,
    path: null,
  });
  t.match(listed[0]?.['offer_proof'], /^[A-Za-z0-9+/]+=*$/, 'the stored proof of the offer, base64');
  t.match(b.events.seen.find((event) => event.type === 'p2p.file.offered')?.data, {
    peer: aId,
    transfer_id: transferId,
    name: 'report.pdf',
    size: bytes.length,
    sha256: sha256(bytes),
    display_name: b.trust.get(aId)?.displayName,
    fingerprint: fingerprintOf(b.trust.keyOf(aId)),
  });
  t.same(fileStatus(b as unknown as NodeContext), { incoming: 1, outgoing: 0, pending_bytes: 0, chunks_sent: 0, chunks_resent: 0, chunks_duplicate: 0 });

  await t.rejects(call(b, 'fetch_file', { peer: aId, transfer_id: transferId, offset: 0, length: 10 }), { errorName: 'CONFLICT', message: /is offered; only a received file/ });
  const accepted = await call(b, 'accept_file', { peer: aId, transfer_id: transferId });
  t.match(accepted, { transfer_id: transferId, reserved_bytes: bytes.length });
  t.ok(['accepted', 'receiving', 'verifying', 'received'].includes(accepted['state'] as string));
  await receivedOn(b, aId, transferId);
  await eventually(async () => a.files.transfers.get(bId, transferId)?.state === 'received', 'A to learn it was received');

  const [outgoing] = (await call(a, 'files', { peer: bId, direction: 'outgoing' }))['transfers'] as Record<string, unknown>[];
  t.match(outgoing, { transfer_id: transferId, direction: 'outgoing', state: 'received', bytes_done: bytes.length, chunks_done: 4, offer_proof: null });
  const [incoming] = (await call(b, 'files', { peer: aId, state: 'received' }))['transfers'] as Record<string, unknown>[];
  t.match(incoming, { path: 'incoming/report.pdf', bytes_done: bytes.length });

  // Read in pieces smaller than a chunk, as a plugin with a small buffer would.
  const pieces: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const read = await call(b, 'fetch_file', { peer: aId, transfer_id: transferId, offset, length: 50_000 });
    t.match(read, { offset, size: bytes.length, sha256: sha256(bytes) });
    pieces.push(Buffer.from(read['data'] as string, 'base64'));
    offset += pieces.at(-1)?.length ?? 0;
    if (read['eof'] === true) break;
  }
  t.equal(pieces.length, 4, 'four reads of at most 50,000 bytes');
  t.ok(Buffer.concat(pieces).equals(bytes), 'fetch_file gives back the bytes sent');
  t.match(await call(b, 'fetch_file', { peer: aId, transfer_id: transferId, offset: bytes.length, length: 1 }), { data: '', eof: true }, 'at the end: nothing, eof');
  await t.rejects(call(b, 'fetch_file', { peer: aId, transfer_id: transferId, offset: bytes.length + 1, length: 1 }), { errorName: 'INVALID_INPUT', message: /past the end/ });
  await t.rejects(call(b, 'fetch_file', { peer: aId, transfer_id: transferId, offset: 0, length: 1024 * KIB + 1 }), { errorName: 'INVALID_INPUT', message: /length/ });
  await t.rejects(call(b, 'fetch_file', { peer: aId, transfer_id: 'ab'.repeat(16), offset: 0, length: 1 }), { errorName: 'NOT_FOUND', message: /no file received/ });
  await t.rejects(call(a, 'fetch_file', { peer: bId, transfer_id: transferId, offset: 0, length: 1 }), { errorName: 'NOT_FOUND', message: /no file received/ }, 'an outgoing transfer is not read back');
  appendFileSync(join(b.files.folders.incoming, 'report.pdf'), 'x');
  await t.rejects(call(b, 'fetch_file', { peer: aId, transfer_id: transferId, offset: 0, length: 1 }), { errorName: 'FILE_SOURCE_CHANGED', message: /changed since it was received/ });

  t.same(fileStatus(a as unknown as NodeContext), { incoming: 0, outgoing: 0, pending_bytes: 0, chunks_sent: 4, chunks_resent: 0, chunks_duplicate: 0 });
  t.same(fileStatus(b as unknown as NodeContext), { incoming: 0, outgoing: 0, pending_bytes: 0, chunks_sent: 0, chunks_resent: 0, chunks_duplicate: 0 });
});

t.test('send_file refuses each bad input, naming the field or the rule', async (t) => {
  const { a, bId } = await pairedNodes(t, FILES_CONFIG);
  writeFileSync(join(a.files.folders.outgoing, 'a.txt'), 'hello');
  const refused = (input: Record<string, unknown>, expected: { errorName?: string; message: RegExp }, what: string) => t.rejects(call(a, 'send_file', { peer: bId, ...input }), expected, what);
  await refused({}, { errorName: 'INVALID_INPUT', message: /source/ }, 'no source');
  await refused({ source: { folder: 'a.txt', upload: { offset: 0, data: '', done: true } } }, { errorName: 'INVALID_INPUT', message: /input.source has an unexpected field "upload"/ }, 'both sources');
  await refused({ source: { folder: '../a.txt' } }, { errorName: 'INVALID_INPUT', message: /\.\./ }, 'a .. segment');
  await refused({ source: { folder: '/etc/passwd' } }, { errorName: 'INVALID_INPUT', message: /absolute/ }, 'an absolute path');
  await refused({ source: { folder: 'missing.txt' } }, { message: /does not exist; put the file in that folder first/ }, 'no such file');
  await refused({ source: { folder: 'a.txt' }, name: 'a/b' }, { errorName: 'INVALID_INPUT', message: /name/ }, 'a name with a slash');
  await refused({ source: { folder: 'a.txt' }, media_type: 'pdf' }, { errorName: 'INVALID_INPUT', message: /media_type/ }, 'a media type without a slash');
  await refused({ source: { folder: 'a.txt' }, ttl_seconds: 10 }, { errorName: 'INVALID_INPUT', message: /ttl_seconds/ }, 'a lifetime under a minute');
  await refused({ source: { upload: { offset: 0, data: 'not base64!', done: false } } }, { errorName: 'INVALID_INPUT', message: /not base64/ }, 'data not base64');
  const tooBig = Buffer.alloc(768 * KIB + 3).toString('base64');
  await refused({ source: { upload: { offset: 0, data: tooBig, done: false } } }, { errorName: 'INVALID_INPUT', message: /input\.source\.upload\.data must .*1048576/ }, 'a part over 768 KiB');
  await refused({ source: { upload: { offset: 0, data: 'aGVsbG8=', done: true } } }, { errorName: 'INVALID_INPUT', message: /must give name/ }, 'a last part without a name');
  await refused({ source: { upload: { id: 'ab'.repeat(16), offset: 0, data: 'aGVsbG8=', done: false } } }, { errorName: 'NOT_FOUND', message: /no upload/ }, 'an unknown upload');
  const stranger = peerIdFromPublicKey(new Uint8Array(randomBytes(32)));
  await t.rejects(call(a, 'send_file', { peer: stranger, source: { folder: 'a.txt' } }), { errorName: 'NOT_FOUND', message: /not a paired peer/ }, 'a peer not paired');
});

t.test('a peer whose hello lacks files-v1 is refused as PEER_UNSUPPORTED', async (t) => {
  const { a, bId } = await pairedNodes(t, FILES_CONFIG);
  writeFileSync(join(a.files.folders.outgoing, 'a.txt'), 'hello');
  const hello = { protocolVersion: 2, agent: 'old', capabilities: ['a2a-v1'], software: 'p2p-comm/old' };
  const messenger = Object.assign(Object.create(a.messenger) as typeof a.messenger, { helloOf: () => hello });
  const old = { ...a, messenger } as InProcessNode;
  await t.rejects(call(old, 'send_file', { peer: bId, source: { folder: 'a.txt' } }), { errorName: 'PEER_UNSUPPORTED', message: /files-v1/ });
});

t.test('limits: FILE_LIMIT naming the number and the setting, for sending and for accepting', async (t) => {
  const { a, b, aId, bId } = await pairedNodes(t, FILES_CONFIG);
  writeFileSync(join(a.files.folders.outgoing, 'big.bin'), randomBytes(8 * CHUNK + 1));
  await t.rejects(call(a, 'send_file', { peer: bId, source: { folder: 'big.bin' } }), { errorName: 'FILE_LIMIT', message: /524289 bytes, above the limit of 524288 \(P2P_COMM_FILE_MAX_BYTES\)/ });
  const first = await offerFromFolder(a, b, 'one.bin', randomBytes(4 * CHUNK));
  const second = await offerFromFolder(a, b, 'two.bin', randomBytes(4 * CHUNK));
  await call(b, 'accept_file', { peer: aId, transfer_id: first });
  await t.rejects(call(b, 'accept_file', { peer: aId, transfer_id: second }), {
    errorName: 'FILE_LIMIT',
    message: /would make 512\.0 KiB of accepted transfers pending, above the limit of 384\.0 KiB \(P2P_COMM_FILE_MAX_PENDING_BYTES\)/,
  });
  t.equal(b.files.transfers.get(aId, second)?.state, 'offered', 'the refused offer stays open');
});

t.test('upload in parts: in order, a wrong offset refused with the expected one, then offered and received', async (t) => {
  const { a, b, aId, bId } = await pairedNodes(t, FILES_CONFIG);
  const bytes = randomBytes(2 * CHUNK + 5);
  const first = await call(a, 'send_file', { peer: bId, source: { upload: { offset: 0, data: bytes.subarray(0, CHUNK).toString('base64'), done: false } } });
  t.match(first, { upload_id: /^[0-9a-f]{32}$/, received_bytes: CHUNK });
  const id = first['upload_id'] as string;
  const part = (offset: number, end: number, done: boolean, name?: string) =>
    call(a, 'send_file', { peer: bId, ...(name === undefined ? {} : { name }), source: { upload: { id, offset, data: bytes.subarray(offset, end).toString('base64'), done } } });
  await t.rejects(part(0, CHUNK, false), { errorName: 'INVALID_INPUT', message: new RegExp(`send the part starting at offset ${CHUNK}, not 0`) }, 'a part sent twice');
  await t.rejects(part(CHUNK + 1, 2 * CHUNK, false), { errorName: 'INVALID_INPUT', message: new RegExp(`offset ${CHUNK}, not ${CHUNK + 1}`) }, 'a part skipped ahead');
  t.match(await part(CHUNK, 2 * CHUNK, false), { upload_id: id, received_bytes: 2 * CHUNK });
  const done = await part(2 * CHUNK, bytes.length, true, 'notes.bin');
  t.match(done, { state: 'hashing', size: bytes.length, name: 'notes.bin' });
  const transferId = done['transfer_id'] as string;
  await eventually(async () => b.files.transfers.get(aId, transferId)?.state === 'offered', 'B to record the offer');
  await call(b, 'accept_file', { peer: aId, transfer_id: transferId });
  await receivedOn(b, aId, transferId);
  const read = await call(b, 'fetch_file', { peer: aId, transfer_id: transferId, offset: 0, length: 1024 * KIB });
  t.ok(Buffer.from(read['data'] as string, 'base64').equals(bytes));
  t.equal(read['eof'], true);
});

t.test('cancel_file: declines an offer, withdraws an outgoing transfer; both sides learn it', async (t) => {
  const { a, b, aId, bId } = await pairedNodes(t, FILES_CONFIG);
  const declined = await offerFromFolder(a, b, 'one.bin', randomBytes(CHUNK));
  t.same(await call(b, 'cancel_file', { peer: aId, transfer_id: declined }), { transfer_id: declined, state: 'declined' });
  await eventually(async () => a.files.transfers.get(bId, declined)?.state === 'declined', 'A to learn of the decline');
  t.match(a.events.seen.find((event) => event.type === 'p2p.file.failed' && event.data['transfer_id'] === declined)?.data, { direction: 'outgoing', reason: 'user' });
  await t.rejects(call(b, 'accept_file', { peer: aId, transfer_id: declined }), { errorName: 'CONFLICT', message: /is declined/ }, 'a declined offer cannot be accepted');

  const withdrawn = await offerFromFolder(a, b, 'two.bin', randomBytes(CHUNK));
  t.same(await call(a, 'cancel_file', { peer: bId, transfer_id: withdrawn }), { transfer_id: withdrawn, state: 'cancelled' });
  await eventually(async () => b.files.transfers.get(aId, withdrawn)?.state === 'cancelled', 'B to learn of the withdrawal');
  t.same(await call(a, 'cancel_file', { peer: bId, transfer_id: withdrawn }), { transfer_id: withdrawn, state: 'cancelled' }, 'a repeat changes nothing');
  await t.rejects(call(a, 'cancel_file', { peer: bId, transfer_id: 'ab'.repeat(16) }), { errorName: 'NOT_FOUND', message: /no file transfer/ });
  await t.rejects(call(a, 'cancel_file', { peer: bId, transfer_id: 'AB'.repeat(16) }), { errorName: 'INVALID_INPUT', message: /transfer_id/ }, 'a transfer id in capitals');
});

t.test('files filters by direction, state, time and count', async (t) => {
  const { a, b, aId, bId } = await pairedNodes(t, FILES_CONFIG);
  const first = await offerFromFolder(a, b, 'one.bin', randomBytes(10));
  const second = await offerFromFolder(a, b, 'two.bin', randomBytes(10));
  await call(b, 'cancel_file', { peer: aId, transfer_id: first });
  const ids = async (input: Record<string, unknown>) => ((await call(b, 'files', { peer: aId, ...input }))['transfers'] as { transfer_id: string }[]).map((entry) => entry.transfer_id);
  t.same(await ids({}), [first, second], 'oldest offer first');
  t.same(await ids({ state: 'offered' }), [second]);
  t.same(await ids({ direction: 'outgoing' }), []);
  t.same(await ids({ limit: 1 }), [first]);
  const firstOfferedAt = b.files.transfers.get(aId, first)?.offeredAt ?? 0;
  t.same(await ids({ after: new Date(firstOfferedAt).toISOString() }), b.files.transfers.get(aId, second)?.offeredAt === firstOfferedAt ? [] : [second]);
  await t.rejects(call(b, 'files', { peer: aId, after: 'yesterday' }), { errorName: 'INVALID_INPUT', message: /ISO 8601/ });
  await t.rejects(call(b, 'files', { peer: aId, limit: 101 }), { errorName: 'INVALID_INPUT', message: /limit/ });
  t.same(((await call(a, 'files', { peer: bId, direction: 'outgoing' }))['transfers'] as unknown[]).length, 2, 'the sender lists both too');
});
