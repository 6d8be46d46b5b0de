import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { RecordLog } from '../../extension/store/record-log';
import {
  DEFAULT_OUTBOX_LIMITS,
  type NewOutgoingMessage,
  OUTBOX_FILE_NAME,
  type OutboxLimits,
  OutboxStore,
  type OutgoingMessage,
} from '../../extension/store/outbox';
import { tempDir } from '../helpers/extension';
import { eventually } from '../helpers/node';

const START = Date.parse('2025-03-01T10:00:00.000Z');

const COMPACT_FROM = 4 * 1024 * 1024;

/**
 * A store on a clock the test moves by hand; `reopen` closes it and reads
 * the file again. It compacts from 4 MiB, so that compaction is reached
 * with few records.
 */
function openStore(t: Test, dir: string, given: Partial<OutboxLimits> = {}) {
  const limits = { compactionMinBytes: COMPACT_FROM, ...given };
  const clock = { ms: START };
  const now = () => clock.ms;
  const handle = {
    store: OutboxStore.open(dir, limits, now),
    clock,
    file: join(dir, OUTBOX_FILE_NAME),
    async reopen(): Promise<OutboxStore> {
      await handle.store.close();
      handle.store = OutboxStore.open(dir, limits, now);
      return handle.store;
    },
  };
  t.teardown(() => handle.store.close().catch(() => undefined));
  return handle;
}

function newPeer(): string {
  return peerIdFromPublicKey(new Uint8Array(randomBytes(32)));
}

function message(peerId: string, text = 'hello', fields: Partial<NewOutgoingMessage> = {}): NewOutgoingMessage {
  return {
    messageId: randomBytes(16).toString('hex'),
    peerId,
    type: 'text',
    correlationId: null,
    content: new Uint8Array(Buffer.from(text, 'utf8')),
    ttlMs: 60_000,
    ...fields,
  };
}

/** Everything a caller can see. */
function observable(store: OutboxStore, ids: readonly string[], peers: readonly string[]) {
  return {
    messages: ids.map((id) => store.get(id) ?? null),
    counts: store.counts(),
    pending: peers.map((peer) => store.pendingFor(peer)),
    peers: store.pendingPeers(),
  };
}

t.test('the defaults are the documented ones', async (t) => {
  t.same(DEFAULT_OUTBOX_LIMITS, {
    maxMessagesPerPeer: 10_000,
    maxBytesPerPeer: 256 * 1024 * 1024,
    finalStateRetentionMs: 7 * 24 * 3600 * 1000,
    maxFinalStates: 10_000,
    maxRecordBytes: 1024 * 1024 + 4096,
    lazyFlushMs: 100,
    compactionMinBytes: 32 * 1024 * 1024,
  });
});

t.test('a message is queued on disk, owner-only, and updates survive reopening', async (t) => {
  const handle = openStore(t, tempDir(t));
  const { clock } = handle;
  const peer = newPeer();
  const sent = message(peer, '{"a":1}', { type: 'json', correlationId: 'task-7:step.2', ttlMs: 3_600_000 });
  const queued = await handle.store.add(sent);
  t.same(queued, {
    messageId: sent.messageId,
    peerId: peer,
    type: 'json',
    correlationId: 'task-7:step.2',
    content: sent.content,
    createdAt: new Date(START),
    expiresAt: new Date(START + 3_600_000),
    state: 'queued',
    updatedAt: new Date(START),
    reason: null,
    attempts: 0,
  });
  t.equal(statSync(handle.file).mode & 0o777, 0o600);
  clock.ms += 1000;
  const inFlight = await handle.store.update(sent.messageId, { state: 'sent', attempts: 1 });
  t.same(inFlight, { ...queued, state: 'sent', attempts: 1, updatedAt: new Date(START + 1000) });
  clock.ms += 1000;
  const deferred = await handle.store.update(sent.messageId, { state: 'queued', reason: 'inbox_full' });
  t.same(deferred, { ...inFlight, state: 'queued', reason: 'inbox_full', updatedAt: new Date(START + 2000) });
  const store = await handle.reopen();
  t.same(store.get(sent.messageId), deferred);
  t.same(store.pendingFor(peer), [deferred]);
  t.same(store.pendingPeers(), [peer]);
  t.same(store.counts(), { queued: 1, sent: 0, delivered: 0, expired: 0, failed: 0 });
  t.equal(store.get(randomBytes(16).toString('hex')), undefined);
});

t.test('pending messages keep their send order through updates and reopening', async (t) => {
  const handle = openStore(t, tempDir(t));
  const alice = newPeer();
  const bob = newPeer();
  const a1 = await handle.store.add(message(alice, 'a1'));
  const b1 = await handle.store.add(message(bob, 'b1'));
  const a2 = await handle.store.add(message(alice, 'a2'));
  await handle.store.update(a1.messageId, { state: 'sent', attempts: 1 });
  const order = (store: OutboxStore, peer: string) => store.pendingFor(peer).map((m) => Buffer.from(m.content).toString());
  t.same(order(handle.store, alice), ['a1', 'a2']);
  t.same(handle.store.pendingPeers(), [alice, bob]);
  await handle.store.update(b1.messageId, { state: 'delivered' });
  t.same(handle.store.pendingPeers(), [alice]);
  t.same(handle.store.pendingFor(bob), []);
  const store = await handle.reopen();
  t.same(order(store, alice), ['a1', 'a2']);
  t.same(store.pendingPeers(), [alice]);
  t.equal(store.get(a2.messageId)?.state, 'queued');
  t.equal(store.get(a1.messageId)?.state, 'sent');
});

t.test('refusals: a reused id, an unknown id, fields the file cannot hold', async (t) => {
  const { store } = openStore(t, tempDir(t));
  const peer = newPeer();
  const first = await store.add(message(peer));
  await t.rejects(store.add({ ...message(peer), messageId: first.messageId }), { name: 'P2pError', errorName: 'CONFLICT', message: /already in the outbox/ });
  await store.update(first.messageId, { state: 'delivered' });
  await t.rejects(store.add({ ...message(peer), messageId: first.messageId }), { name: 'P2pError', errorName: 'CONFLICT' }, 'also once final');
  await t.rejects(store.update(randomBytes(16).toString('hex'), { state: 'sent' }), { name: 'P2pError', errorName: 'NOT_FOUND' });
  await t.rejects(store.add(message(peer, 'x', { messageId: 'ABC' })), { name: 'P2pError', errorName: 'INVALID_INPUT', message: /32 lower-case hex/ });
  await t.rejects(store.add(message('not-a-peer')), { name: 'P2pError', errorName: 'INVALID_INPUT', message: /is not a peer id/ });
  await t.rejects(store.add(message(peer, 'x', { correlationId: 'has space' })), { name: 'P2pError', errorName: 'INVALID_INPUT', message: /correlation id/ });
  await t.rejects(store.add(message(peer, 'x', { correlationId: 'x'.repeat(129) })), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  await t.rejects(store.add(message(peer, 'x', { ttlMs: 0 })), { name: 'P2pError', errorName: 'INVALID_INPUT', message: /time to live/ });
  await t.rejects(store.add(message(peer, 'x', { ttlMs: 1.5 })), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  const second = await store.add(message(peer));
  await t.rejects(store.update(second.messageId, { attempts: -1 }), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  t.same(store.counts(), { queued: 1, sent: 0, delivered: 1, expired: 0, failed: 0 });
});

t.test('a peer gets only so many undelivered messages and bytes', async (t) => {
  const { store } = openStore(t, tempDir(t), { maxMessagesPerPeer: 2, maxBytesPerPeer: 10 });
  const peer = newPeer();
  const attempts = await Promise.allSettled([store.add(message(peer, 'one')), store.add(message(peer, 'two')), store.add(message(peer, 'six'))]);
  t.same(attempts.map((attempt) => attempt.status), ['fulfilled', 'fulfilled', 'rejected'], 'adds still being written count');
  await t.rejects(store.add(message(peer, 'x')), {
    errorName: 'LIMIT_REACHED',
    message: new RegExp(`^the outbox for ${peer} already holds 2 undelivered messages \\(6 bytes\\); it keeps at most 2 messages / 10 bytes per peer: wait`),
  });
  await store.add(message(newPeer(), 'other peer'));
  const [oldest] = store.pendingFor(peer);
  await store.update(oldest?.messageId ?? '', { state: 'delivered' });
  await t.rejects(store.add(message(peer, 'too long')), { name: 'P2pError', errorName: 'LIMIT_REACHED', message: /holds 1 undelivered messages \(3 bytes\)/ });
  await store.add(message(peer, 'fits!!!'));
  t.equal(store.pendingFor(peer).length, 2);
});

t.test('a final state is never changed again, and the content is no longer kept', async (t) => {
  const handle = openStore(t, tempDir(t));
  const peer = newPeer();
  const queued = await handle.store.add(message(peer, 'payload'));
  handle.clock.ms += 5000;
  const delivered = await handle.store.update(queued.messageId, { state: 'delivered', attempts: 1 });
  t.same(delivered, { ...queued, content: new Uint8Array(0), state: 'delivered', attempts: 1, updatedAt: new Date(START + 5000) });
  handle.clock.ms += 5000;
  t.same(await handle.store.update(queued.messageId, { state: 'failed', reason: 'late' }), delivered);
  const store = await handle.reopen();
  t.same(store.get(queued.messageId), delivered);
  t.same(await store.update(queued.messageId, { state: 'queued' }), delivered);
  t.same(store.pendingPeers(), []);
});

t.test('pending messages past their expiry expire, on the injected clock', async (t) => {
  const handle = openStore(t, tempDir(t));
  const peer = newPeer();
  const short = await handle.store.add(message(peer, 'short', { ttlMs: 60_000 }));
  const long = await handle.store.add(message(peer, 'long', { ttlMs: 120_000 }));
  handle.clock.ms += 59_999;
  t.same(await handle.store.expireDue(), []);
  handle.clock.ms += 1;
  const expired = await handle.store.expireDue();
  t.same(expired, [{ ...short, content: new Uint8Array(0), state: 'expired', reason: 'ttl', updatedAt: new Date(START + 60_000) }]);
  t.same(handle.store.pendingFor(peer).map((m) => m.messageId), [long.messageId]);
  const store = await handle.reopen();
  t.same(store.get(short.messageId), expired[0]);
  t.same(await store.expireDue(), []);
  t.same(store.counts(), { queued: 1, sent: 0, delivered: 0, expired: 1, failed: 0 });
});

t.test("a peer's pending messages fail at once, durably, each reported once", async (t) => {
  const handle = openStore(t, tempDir(t));
  const peer = newPeer();
  const other = newPeer();
  const delivered = await handle.store.add(message(peer, 'delivered'));
  await handle.store.update(delivered.messageId, { state: 'delivered' });
  const refused = await handle.store.add(message(peer, 'refused by the peer'));
  const queued = await handle.store.add(message(peer, 'queued'));
  const deferred = await handle.store.add(message(peer, 'deferred'));
  await handle.store.update(deferred.messageId, { reason: 'inbox_full', attempts: 2 });
  const elsewhere = await handle.store.add(message(other, 'to another peer'));
  handle.clock.ms += 5000;

  // A refusal ack lands while the revocation is being written: it keeps its own reason and is not reported here.
  const racing = handle.store.update(refused.messageId, { state: 'failed', reason: 'bad_signature' });
  const [first, second] = await Promise.all([handle.store.failPending(peer, 'revoked_by_peer'), handle.store.failPending(peer, 'revoked_by_peer')]);
  await racing;
  t.same(
    first.map((m) => m.messageId),
    [queued.messageId, deferred.messageId],
    'the pending ones, in send order',
  );
  t.same(second, [], 'an overlapping call reports none of them again');
  t.match(first[1], { state: 'failed', reason: 'revoked_by_peer', attempts: 2, updatedAt: new Date(START + 5000), content: new Uint8Array(0) });
  t.same(handle.store.pendingFor(peer), []);
  t.same(handle.store.pendingPeers(), [other]);
  t.match(handle.store.get(refused.messageId), { state: 'failed', reason: 'bad_signature' });
  t.match(handle.store.get(delivered.messageId), { state: 'delivered', reason: null });
  t.match(handle.store.get(elsewhere.messageId), { state: 'queued' });

  const store = await handle.reopen();
  t.match(store.get(queued.messageId), { state: 'failed', reason: 'revoked_by_peer' }, 'on disk');
  t.same(store.counts(), { queued: 1, sent: 0, delivered: 1, expired: 0, failed: 3 });
  t.same(await store.failPending(peer, 'revoked_by_peer'), [], 'nothing left to fail');
});

t.test('final states are forgotten after their retention and beyond their number, oldest first', async (t) => {
  const handle = openStore(t, tempDir(t), { finalStateRetentionMs: 10_000, maxFinalStates: 2 });
  const peer = newPeer();
  const ids: string[] = [];
  for (let i = 0; i < 3; i += 1) {
    const { messageId } = await handle.store.add(message(peer, `m${i}`));
    ids.push(messageId);
  }
  for (const id of ids) {
    await handle.store.update(id, { state: 'failed', reason: 'refused' });
    handle.clock.ms += 1000;
  }
  t.same(ids.map((id) => handle.store.get(id)?.state ?? null), [null, 'failed', 'failed']);
  let store = await handle.reopen();
  t.same(ids.map((id) => store.get(id)?.state ?? null), [null, 'failed', 'failed']);
  handle.clock.ms = START + 1000 + 10_000;
  t.same(ids.map((id) => store.get(id)?.state ?? null), [null, null, 'failed']);
  await t.rejects(store.update(ids[1] ?? '', { state: 'sent' }), { name: 'P2pError', errorName: 'NOT_FOUND' });
  handle.clock.ms += 1000;
  store = await handle.reopen();
  t.same(store.counts(), { queued: 0, sent: 0, delivered: 0, expired: 0, failed: 0 });
  await store.add({ ...message(peer), messageId: ids[0] ?? '' });
  t.equal(store.get(ids[0] ?? '')?.state, 'queued', 'a forgotten id may be used again');
});

t.test('compaction shrinks the file and changes nothing a caller can see', async (t) => {
  const handle = openStore(t, tempDir(t));
  const peers = [newPeer(), newPeer()];
  const big = new Uint8Array(64 * 1024).fill(0xab);
  const added = await Promise.all(
    Array.from({ length: 70 }, (_, i) => handle.store.add({ ...message(peers[i % 2] ?? ''), content: big, correlationId: `c${i}` })),
  );
  const ids = added.map((m) => m.messageId);
  t.ok(statSync(handle.file).size > COMPACT_FROM, 'the file is past the size where compaction starts');
  await handle.store.update(ids[0] ?? '', { state: 'sent', attempts: 1, reason: 'peer busy' });

  const deliveries = ids.slice(2).map((id) => handle.store.update(id, { state: 'delivered', attempts: 1 }));
  // Let the deliveries' write start: a write asked for now waits for the next one.
  await new Promise(setImmediate);
  const during = handle.store.add(message(peers[0] ?? '', 'written while the deliveries were'));
  await Promise.all(deliveries);
  const compacting = handle.store.add(message(peers[1] ?? '', 'the write that finds the file worth compacting'));
  ids.push((await during).messageId, (await compacting).messageId);

  t.ok(statSync(handle.file).size < 200 * 1024, `compacted to ${statSync(handle.file).size} bytes`);
  const before = observable(handle.store, ids, peers);
  t.same(before.counts, { queued: 3, sent: 1, delivered: 68, expired: 0, failed: 0 });
  const store = await handle.reopen();
  t.same(observable(store, ids, peers), before);
  await store.update(ids[1] ?? '', { state: 'delivered' });
  t.same((await handle.reopen()).get(ids[1] ?? '')?.state, 'delivered', 'appends after a compaction land in the new file');
});

t.test('a crash in the middle of a write loses only that unfinished record', async (t) => {
  const handle = openStore(t, tempDir(t));
  const peer = newPeer();
  const kept = [await handle.store.add(message(peer, 'one')), await handle.store.add(message(peer, 'two'))];
  await handle.store.add(message(peer, 'three'));
  await handle.store.close();
  truncateSync(handle.file, statSync(handle.file).size - 5);
  const store = await handle.reopen();
  t.same(store.pendingFor(peer), kept);
  await store.add(message(peer, 'four'));
  t.same((await handle.reopen()).pendingFor(peer).map((m) => Buffer.from(m.content).toString()), ['one', 'two', 'four']);
});

t.test('a record that checks out but is not an outbox record is refused, naming the file', async (t) => {
  const dir = tempDir(t);
  const { log } = RecordLog.open(join(dir, OUTBOX_FILE_NAME), { maxRecordBytes: 100 });
  await log.append(new Uint8Array([9, 1, 2]));
  await log.close();
  t.throws(() => OutboxStore.open(dir), {
    errorName: 'STATE_FILE_CORRUPT',
    message: /^the outbox .*outbox\.log is corrupt: record 1 is not an outbox record \(its kind is 9\)\. .*move the file away/,
  });
});

/** The kinds of the records in the file, in log order (1 ADD, 2 STATE, 3 FINAL), as a restart would read them. */
function recordKinds(file: string): number[] {
  return RecordLog.open(file, { maxRecordBytes: DEFAULT_OUTBOX_LIMITS.maxRecordBytes }).records.map((record) => record[0] as number);
}

/** OutboxStore over a node:fs whose writes fail while `failing` is set. */
function failingDisk(t: Test) {
  const disk = { failing: false };
  const realWritev = promisify(fs.writev);
  const writev = Object.assign(() => undefined, {
    [promisify.custom]: (fd: number, buffers: readonly Uint8Array[], position: number) =>
      disk.failing
        ? Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }))
        : realWritev(fd, buffers, position),
  });
  const { OutboxStore: Outbox } = t.mockRequire<typeof import('../../extension/store/outbox')>('../../extension/store/outbox', {
    'node:fs': { ...fs, writev },
  });
  return { Outbox, disk };
}

t.test('an added message is queued and visible at once; add resolves once it is on disk', async (t) => {
  const handle = openStore(t, tempDir(t));
  const peer = newPeer();
  const fresh = message(peer, 'at once');
  const added = handle.store.add(fresh);
  const visible = handle.store.get(fresh.messageId);
  t.match(visible, { messageId: fresh.messageId, state: 'queued', attempts: 0 }, 'get returns it in the same step');
  t.same(handle.store.pendingFor(peer), [visible]);
  t.same(handle.store.counts(), { queued: 1, sent: 0, delivered: 0, expired: 0, failed: 0 });
  t.same(recordKinds(handle.file), [], 'not on disk yet');
  t.same(await added, visible);
  t.same(recordKinds(handle.file), [1], 'on disk once add resolves');
  await t.rejects(handle.store.add({ ...message(peer), messageId: fresh.messageId }), { name: 'P2pError', errorName: 'CONFLICT' });
});

t.test('while an add is written, the peer limits count it, and add answers with the state it reached meanwhile', async (t) => {
  const handle = openStore(t, tempDir(t), { maxMessagesPerPeer: 1, lazyFlushMs: 60_000 });
  const peer = newPeer();
  const first = message(peer, 'first');
  const added = handle.store.add(first);
  await t.rejects(handle.store.add(message(peer, 'second')), { name: 'P2pError', errorName: 'LIMIT_REACHED' });
  // The peer's ack can come before the write is done: the message was sent while it was written.
  handle.store.markDelivered([{ messageId: first.messageId, attempts: 1 }]);
  t.match(await added, { state: 'delivered', attempts: 1 });
});

t.test('a state change while the add is written lands after the add in the log, lazy or not', async (t) => {
  const handle = openStore(t, tempDir(t), { lazyFlushMs: 60_000 });
  const peer = newPeer();
  const deferred = message(peer, 'deferred');
  const delivered = message(peer, 'delivered');
  const adds = [handle.store.add(deferred), handle.store.add(delivered)];
  const durable = handle.store.update(deferred.messageId, { reason: 'inbox_full', attempts: 1 });
  handle.store.markDelivered([{ messageId: delivered.messageId, attempts: 1 }]);
  await Promise.all([...adds, durable]);
  t.same(recordKinds(handle.file), [1, 1, 4, 2], 'the lazy one rode on the write of the adds, after them');
  const store = await handle.reopen();
  t.match(store.get(deferred.messageId), { state: 'queued', reason: 'inbox_full', attempts: 1 });
  t.match(store.get(delivered.messageId), { state: 'delivered', attempts: 1 });
});

t.test('a lazy delivered state is applied at once, survives a close, and a crash before its write loses it', async (t) => {
  const dir = tempDir(t);
  const handle = openStore(t, dir, { lazyFlushMs: 60_000 });
  const peer = newPeer();
  const sent = await handle.store.add(message(peer, 'lazy'));
  handle.store.markDelivered([{ messageId: sent.messageId, attempts: 1 }]);
  t.match(handle.store.get(sent.messageId), { state: 'delivered' }, 'applied at once');
  t.same(handle.store.pendingFor(peer), []);
  // A crash now: what a restart reads is the file as it is. The message is pending again and is offered
  // again; the peer, which stored it, answers the copy as a duplicate and drops it.
  const crashed = OutboxStore.open(dir, { lazyFlushMs: 60_000 });
  t.match(crashed.get(sent.messageId), { state: 'queued', attempts: 0 }, 'lost by a crash');
  await crashed.close();
  t.match((await handle.reopen()).get(sent.messageId), { state: 'delivered', attempts: 1 }, 'written at close');
});

t.test('a lazy state change with no write to ride on is written alone after lazyFlushMs', async (t) => {
  const dir = tempDir(t);
  const handle = openStore(t, dir, { lazyFlushMs: 5 });
  const sent = await handle.store.add(message(newPeer(), 'timed'));
  handle.store.markDelivered([{ messageId: sent.messageId, attempts: 1 }]);
  await eventually(async () => recordKinds(handle.file).length === 2, 'the lazy record to be written');
  const reader = OutboxStore.open(dir, {}, () => START);
  t.match(reader.get(sent.messageId), { state: 'delivered' });
  await reader.close();
});

t.test('an add whose write fails is taken out again, whatever it reached meanwhile, and nothing about it is written after', async (t) => {
  const { Outbox, disk } = failingDisk(t);
  const dir = tempDir(t);
  const store = Outbox.open(dir, { lazyFlushMs: 60_000 });
  t.teardown(() => store.close().catch(() => undefined));
  const peer = newPeer();
  const kept = await store.add(message(peer, 'kept'));
  disk.failing = true;
  const failed = message(peer, 'failed');
  const added = store.add(failed);
  t.match(store.get(failed.messageId), { state: 'queued' }, 'visible while written');
  const state = store.update(failed.messageId, { reason: 'inbox_full', attempts: 1 });
  store.markDelivered([{ messageId: failed.messageId, attempts: 1 }]);
  await t.rejects(added, { code: 'EIO' });
  await t.rejects(state, 'the state change fails with it');
  disk.failing = false;
  t.equal(store.get(failed.messageId), undefined, 'taken out, delivered though it was');
  t.same(store.pendingFor(peer), [kept]);
  t.same(store.counts(), { queued: 1, sent: 0, delivered: 0, expired: 0, failed: 0 });
  await t.rejects(store.add(message(peer, 'after')), { name: 'P2pError', errorName: 'INTERNAL_ERROR', message: /cannot tell which records reached the disk/ });
  t.throws(() => store.markDelivered([{ messageId: kept.messageId, attempts: 1 }]), { name: 'P2pError', errorName: 'INTERNAL_ERROR' });
  t.match(store.get(kept.messageId), { state: 'queued' }, 'applying nothing');
  await store.close();
  const again = OutboxStore.open(dir);
  t.same(again.pendingFor(peer).map((m) => m.messageId), [kept.messageId], 'a restart does not bring it back');
  t.equal(again.get(failed.messageId), undefined);
  await again.close();
});

t.test('one DELIVERED record settles every message a receipt covers, survives a restart, and leaves final ones alone', async (t) => {
  const handle = openStore(t, tempDir(t), { lazyFlushMs: 60_000 });
  const peer = newPeer();
  const sent = [await handle.store.add(message(peer, 'one')), await handle.store.add(message(peer, 'two'))];
  const failed = await handle.store.add(message(peer, 'three'));
  handle.clock.ms += 1000;
  await handle.store.update(failed.messageId, { state: 'failed', reason: 'payload_invalid', attempts: 1 });
  handle.clock.ms += 1000;
  handle.store.markDelivered([...sent, failed].map(({ messageId }) => ({ messageId, attempts: 2 })));
  const expected = { state: 'delivered', attempts: 2, reason: null, content: new Uint8Array(0), updatedAt: new Date(START + 2000) };
  for (const { messageId } of sent) t.match(handle.store.get(messageId), expected, 'applied at once');
  t.match(handle.store.get(failed.messageId), { state: 'failed', reason: 'payload_invalid' }, 'a final state stays');
  t.same(handle.store.pendingFor(peer), []);
  const store = await handle.reopen();
  t.same(recordKinds(handle.file), [1, 1, 1, 2, 4], 'one record for all, written at close');
  for (const { messageId } of sent) t.match(store.get(messageId), expected, 'read back');
  t.match(store.get(failed.messageId), { state: 'failed', attempts: 1 });
});

t.test('deliveries beyond what one record holds are split over several', async (t) => {
  // The ADD of a 2-byte message (1 + 50 of fields + 16 of times + 4 + 2): room for three deliveries (13 bytes of header, 20 each).
  const handle = openStore(t, tempDir(t), { lazyFlushMs: 60_000, maxRecordBytes: 73 });
  const peer = newPeer();
  const sent = [];
  for (let index = 0; index < 5; index += 1) sent.push(await handle.store.add(message(peer, `m${index}`)));
  handle.store.markDelivered(sent.map(({ messageId }) => ({ messageId, attempts: 1 })));
  const store = await handle.reopen();
  t.same(recordKinds(handle.file), [1, 1, 1, 1, 1, 4, 4], 'three, then two');
  for (const { messageId } of sent) t.match(store.get(messageId), { state: 'delivered', attempts: 1 });
});

t.test('failPending with ids fails those of them pending to that peer, and no other', async (t) => {
  const handle = openStore(t, tempDir(t));
  const peer = newPeer();
  const other = newPeer();
  const sent = await Promise.all(['a', 'b', 'c', 'd'].map((text) => handle.store.add(message(peer, text))));
  const elsewhere = await handle.store.add(message(other, 'to another peer'));
  const settled = sent[3] as OutgoingMessage;
  await handle.store.update(settled.messageId, { state: 'delivered' });
  const named = [sent[2], sent[0], settled, elsewhere].map((m) => (m as OutgoingMessage).messageId);
  const failed = await handle.store.failPending(peer, 'cancelled', [...named, 'ff'.repeat(16)]);
  t.same(failed.map((m) => m.messageId), [sent[0], sent[2]].map((m) => (m as OutgoingMessage).messageId), 'the pending ones named, in send order');
  t.ok(failed.every((m) => m.state === 'failed' && m.reason === 'cancelled'));
  t.same(handle.store.pendingFor(peer).map((m) => m.messageId), [(sent[1] as OutgoingMessage).messageId], 'the one not named stays pending');
  t.match(handle.store.get(settled.messageId), { state: 'delivered' }, 'a final one keeps its state');
  t.match(handle.store.get(elsewhere.messageId), { state: 'queued' }, 'a message to another peer is not touched');
  t.same(await handle.store.failPending(peer, 'cancelled', named), [], 'nothing named is left to fail');
});
