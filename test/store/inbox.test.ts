import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { closeSync, openSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t, { type Test } from 'tap';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import {
  DEFAULT_INBOX_LIMITS,
  DIGEST_BYTES,
  INBOX_FILE_NAME,
  type InboxLimits,
  InboxStore,
  MAX_PROOF_BYTES,
  type ReceivedMessage,
  type StoredMessage,
} from '../../extension/store/inbox';
import { RecordLog } from '../../extension/store/record-log';
import { tempDir } from '../helpers/extension';

const START = Date.parse('2025-03-01T10:00:00.000Z');
const RETENTION = 60_000;

/**
 * A store on a clock the test moves by hand; `reopen` closes it and reads
 * the file again. It keeps no records in memory unless asked to, so that
 * reads go to the file, and compacts from 4 MiB, so that compaction is
 * reached with few records.
 */
/** Whether the store knows this id from this peer (unacked, or stored within the retention): any digest tells, as only 'new' means not. */
function remembers(store: InboxStore, peerId: string, messageId: string): boolean {
  return store.recognize(peerId, messageId, new Uint8Array(DIGEST_BYTES)) !== 'new';
}

const COMPACT_FROM = 4 * 1024 * 1024;

function openInbox(t: Test, dir: string, limits: Partial<InboxLimits> = {}) {
  const allLimits = { seenRetentionMs: RETENTION, maxRecentBytes: 0, compactionMinBytes: COMPACT_FROM, ...limits };
  const clock = { ms: START };
  const now = () => clock.ms;
  const handle = {
    store: InboxStore.open(dir, allLimits, now),
    clock,
    file: join(dir, INBOX_FILE_NAME),
    async reopen(): Promise<InboxStore> {
      await handle.store.close();
      handle.store = InboxStore.open(dir, allLimits, now);
      return handle.store;
    },
  };
  t.teardown(() => handle.store.close().catch(() => undefined));
  return handle;
}

function newPeer(): string {
  return peerIdFromPublicKey(new Uint8Array(randomBytes(32)));
}

function received(peerId: string, content: string | Uint8Array = 'hello', fields: Partial<ReceivedMessage> = {}): ReceivedMessage {
  return {
    messageId: randomBytes(16).toString('hex'),
    peerId,
    type: 'text',
    correlationId: null,
    content: typeof content === 'string' ? new Uint8Array(Buffer.from(content, 'utf8')) : content,
    digest: new Uint8Array(randomBytes(16)),
    proof: new Uint8Array(randomBytes(140)),
    sentAt: new Date(START - 250),
    ...fields,
  };
}

function texts(messages: readonly StoredMessage[]): string[] {
  return messages.map((message) => Buffer.from(message.content).toString('utf8'));
}

/** Flips one byte of the file, in the first place these bytes are found. */
function damage(file: string, within: string): void {
  const at = readFileSync(file).indexOf(Buffer.from(within, 'utf8'));
  if (at < 0) throw new Error(`${within} is not in ${file}`);
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from([0x01 ^ within.charCodeAt(0)]), 0, 1, at);
  closeSync(fd);
}

/** Garbage collected, so that what memory holds is what is still referenced: the second pass frees the buffers the first found dead. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
}

t.test('the defaults are the documented ones', async (t) => {
  t.same(DEFAULT_INBOX_LIMITS, {
    maxMessagesPerPeer: 1000,
    maxBytesPerPeer: 64 * 1024 * 1024,
    seenRetentionMs: 15 * 60 * 1000,
    maxSeenPerPeer: 100_000,
    maxSeen: 200_000,
    maxRecordBytes: 1024 * 1024 + 4096,
    maxReadBytes: 8 * 1024 * 1024,
    maxRecentBytes: 1024 * 1024,
    compactionMinBytes: 32 * 1024 * 1024,
  });
});

t.test('messages are stored with cursors, listed per peer, acked, and all of it survives reopening', async (t) => {
  const handle = openInbox(t, tempDir(t));
  const alice = newPeer();
  const bob = newPeer();
  const first = received(alice, '{"n":1}', { type: 'json', correlationId: 'req-1' });
  const stored = await handle.store.add(first);
  t.same(stored, { ...first, cursor: 1, receivedAt: new Date(START) });
  t.equal(statSync(handle.file).mode & 0o777, 0o600);
  await handle.store.add(received(bob, 'b1'));
  await handle.store.add(received(alice, 'a2'));
  await handle.store.add(received(alice, 'a3'));
  t.same((await handle.store.read(alice, 0, 10)).map((m) => m.cursor), [1, 3, 4]);
  t.same(texts(await handle.store.read(alice, 1, 1)), ['a2']);
  t.same(await handle.store.read(alice, 4, 10), []);
  t.same(handle.store.depth(alice), { messages: 3, bytes: 7 + 2 + 2 });
  t.same(handle.store.depth(), { messages: 4, bytes: 13 });

  t.equal(await handle.store.ack(alice, 3), 2);
  t.same(texts(await handle.store.read(alice, 0, 10)), ['a3']);
  let store = await handle.reopen();
  t.same(texts(await store.read(alice, 0, 10)), ['a3']);
  t.same((await store.read(bob, 0, 10)).map((m) => m.cursor), [2]);
  t.same(store.depth(), { messages: 2, bytes: 4 });
  t.equal(await store.ack(alice, 3), 0, 'acking again removes nothing');
  t.equal(await store.ack(bob, 100), 1);
  t.equal(await store.ack(newPeer(), 100), 0);
  store = await handle.reopen();
  t.same(await store.read(bob, 0, 10), [], 'acked messages stay gone');
  t.same(store.depth(), { messages: 1, bytes: 2 });
  await t.rejects(store.ack(alice, -1), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  await t.rejects(store.ack(alice, 1.5), { name: 'P2pError', errorName: 'INVALID_INPUT' });
});

t.test('channels: receive and the A2A service each read and ack their own messages, also after reopening', async (t) => {
  const handle = openInbox(t, tempDir(t));
  const alice = newPeer();
  await handle.store.add(received(alice, 'plain 1'));
  await handle.store.add(received(alice, '{"v":1}', { type: 'a2a_request' }));
  await handle.store.add(received(alice, '{"n":2}', { type: 'json' }));
  await handle.store.add(received(alice, '{"v":1,"seq":0}', { type: 'a2a_response' }));
  t.same((await handle.store.read(alice, 0, 10)).map((m) => [m.cursor, m.type]), [[1, 'text'], [3, 'json']], 'receive sees text and json only');
  t.same((await handle.store.read(alice, 0, 10, 'a2a')).map((m) => [m.cursor, m.type]), [[2, 'a2a_request'], [4, 'a2a_response']]);
  t.same((await handle.store.read(alice, 0, 1, 'a2a')).map((m) => m.cursor), [2], 'limit counts the channel’s messages');
  t.ok(handle.store.hasMessagesAfter(alice, 3, 'a2a'));
  t.notOk(handle.store.hasMessagesAfter(alice, 3), 'cursor 4 is not for receive');

  t.equal(await handle.store.ack(alice, 4), 2, 'receive acks its two messages');
  t.same((await handle.store.read(alice, 0, 10, 'a2a')).map((m) => m.cursor), [2, 4], 'the A2A messages stay');
  let store = await handle.reopen();
  t.same(await store.read(alice, 0, 10), [], 'the plain ack (kind 2) survives reopening');
  t.same((await store.read(alice, 0, 10, 'a2a')).map((m) => m.cursor), [2, 4]);
  t.equal(await store.ack(alice, 2, 'a2a'), 1);
  await store.add(received(alice, 'plain 5'));
  store = await handle.reopen();
  t.same((await store.read(alice, 0, 10, 'a2a')).map((m) => m.cursor), [4], 'the channel ack (kind 6) survives reopening');
  t.same(texts(await store.read(alice, 0, 10)), ['plain 5'], 'and did not ack a later plain message');
  t.equal(await store.ack(alice, 4, 'a2a'), 1);
  t.same(store.depth(alice), { messages: 1, bytes: 7 });
});

t.test('channels files and groups: read and acked apart from receive, A2A and each other, across reopening and compaction', async (t) => {
  const handle = openInbox(t, tempDir(t));
  const alice = newPeer();
  const types = ['text', 'file_offer', 'group_control', 'a2a_request', 'file_chunk', 'group_message', 'file_control', 'json'] as const;
  for (const type of types) await handle.store.add(received(alice, type, { type }));
  const channel = async (name?: 'files' | 'groups' | 'a2a') => (await handle.store.read(alice, 0, 10, name)).map((m) => [m.cursor, m.type]);
  t.same(await channel(), [[1, 'text'], [8, 'json']], 'receive never sees the file and group types');
  t.same(await channel('files'), [[2, 'file_offer'], [5, 'file_chunk'], [7, 'file_control']]);
  t.same(await channel('groups'), [[3, 'group_control'], [6, 'group_message']]);
  t.same(await channel('a2a'), [[4, 'a2a_request']]);
  t.notOk(handle.store.hasMessagesAfter(alice, 8), 'nothing for receive past its last');
  t.ok(handle.store.hasMessagesAfter(alice, 6, 'files'));
  t.notOk(handle.store.hasMessagesAfter(alice, 7, 'files'));

  t.equal(await handle.store.ack(alice, 5, 'files'), 2, 'the files ack takes the offer and the chunk, nothing of other channels below it');
  t.equal(await handle.store.ack(alice, 8), 2, 'receive acks its own two');
  let store = await handle.reopen();
  t.same(await channel(), [], 'the plain ack survives reopening');
  t.same(await channel('files'), [[7, 'file_control']], 'the files ack (kind 6, channel 2) survives reopening');
  t.same(await channel('groups'), [[3, 'group_control'], [6, 'group_message']], 'each message keeps its channel from its stored type');
  t.same(await channel('a2a'), [[4, 'a2a_request']]);
  t.equal(await store.ack(alice, 3, 'groups'), 1);
  store = await handle.reopen();
  t.same(await channel('groups'), [[6, 'group_message']], 'the groups ack (channel 3) survives reopening');

  // Enough acked bytes to make the file worth compacting; what is unacked keeps its channel through it.
  const big = new Uint8Array(60 * 1024).fill(2);
  const bigOnes = await Promise.all(Array.from({ length: 80 }, () => store.add(received(alice, big, { type: 'file_chunk' }))));
  const last = Math.max(...bigOnes.map((m) => m.cursor));
  handle.clock.ms += RETENTION;
  t.ok(statSync(handle.file).size > COMPACT_FROM);
  t.equal(await store.ack(alice, last, 'files'), 81, 'the control and the 80 chunks');
  // Compaction runs before the next write.
  t.equal((await store.add(received(alice, 'next'))).cursor, last + 1);
  t.ok(statSync(handle.file).size < 2048, `compacted to ${statSync(handle.file).size} bytes`);
  store = await handle.reopen();
  t.same(await channel('files'), []);
  t.same(await channel('groups'), [[6, 'group_message']]);
  t.same(await channel('a2a'), [[4, 'a2a_request']]);
  t.same(await channel(), [[last + 1, 'text']]);
  t.same(texts(await store.read(alice, 0, 10, 'groups')), ['group_message'], 'content too');
});

t.test('content, digest, proof and times come back byte-exact, valid UTF-8 or not', async (t) => {
  const handle = openInbox(t, tempDir(t));
  const peer = newPeer();
  const everyByte = new Uint8Array(256).map((_, i) => i);
  const notUtf8 = new Uint8Array([0xff, 0xfe, 0x80, 0xc3, 0x28, 0x00, 0xed, 0xa0, 0x80]);
  const sent = [received(peer, everyByte), received(peer, notUtf8), received(peer, new Uint8Array(0), { sentAt: new Date(START - 1) })];
  const stored = [];
  for (const message of sent) stored.push(await handle.store.add(message));
  const store = await handle.reopen();
  t.same(await store.read(peer, 0, 10), stored);
  t.same([...((await store.read(peer, 0, 1))[0]?.content ?? [])], [...everyByte]);
  t.same([...((await store.read(peer, 1, 1))[0]?.content ?? [])], [...notUtf8]);
});

t.test('cursors only ever grow: across reopening and across compaction', async (t) => {
  const handle = openInbox(t, tempDir(t));
  const [alice, bob, carol] = [newPeer(), newPeer(), newPeer()];
  t.equal((await handle.store.add(received(carol, 'c'))).cursor, 1);
  const big = new Uint8Array(60 * 1024).fill(7);
  const bigOnes = await Promise.all(Array.from({ length: 80 }, () => handle.store.add(received(alice, big))));
  t.same(bigOnes.map((m) => m.cursor).sort((a, b) => a - b), Array.from({ length: 80 }, (_, i) => i + 2));
  const last = await handle.store.add(received(bob, 'b'));
  t.equal(last.cursor, 82);
  t.ok(statSync(handle.file).size > COMPACT_FROM);
  t.equal(await handle.store.ack(bob, 82), 1);
  t.equal(await handle.store.ack(alice, 81), 80);
  t.ok(remembers(handle.store, bob, last.messageId), 'acked, but still remembered');

  // Past the retention nothing but carol's message is live: the ack of it finds the file worth compacting.
  handle.clock.ms += RETENTION;
  t.equal(await handle.store.ack(carol, 1), 1);
  t.ok(statSync(handle.file).size < 1024, `compacted to ${statSync(handle.file).size} bytes`);
  t.notOk(remembers(handle.store, bob, last.messageId));
  let store = await handle.reopen();
  t.equal((await store.add(received(alice, 'next'))).cursor, 83, 'the highest cursor outlives every message that had it');
  store = await handle.reopen();
  t.equal((await store.add(received(alice, 'after'))).cursor, 84);
  t.same(texts(await store.read(alice, 0, 10)), ['next', 'after']);
});

t.test('compaction keeps unacked messages and the seen entries of acked ones', async (t) => {
  const handle = openInbox(t, tempDir(t));
  const [alice, bob] = [newPeer(), newPeer()];
  const big = new Uint8Array(60 * 1024).fill(1);
  const early = await handle.store.add(received(bob, 'early'));
  handle.clock.ms += RETENTION / 2;
  const acked = await Promise.all(Array.from({ length: 80 }, () => handle.store.add(received(alice, big))));
  const kept = await handle.store.add(received(alice, 'kept'));
  t.equal(await handle.store.ack(alice, acked.length + 1), 80);
  // early's seen entry is gone by now, but early itself is not acked.
  handle.clock.ms += RETENTION / 2;
  const compacting = await handle.store.add(received(bob, 'late'));
  t.ok(statSync(handle.file).size < 20 * 1024, `compacted to ${statSync(handle.file).size} bytes`);
  const store = await handle.reopen();
  t.same(await store.read(bob, 0, 10), [early, compacting]);
  t.same(await store.read(alice, 0, 10), [kept]);
  t.ok(acked.every((m) => store.recognize(alice, m.messageId, m.digest) === 'duplicate'), 'acked ones are still seen');
  t.ok(acked.every((m) => store.recognize(alice, m.messageId, randomBytes(16)) === 'id_reused'), 'with their digests');
  t.ok(remembers(store, bob, early.messageId), 'an unacked message is in the inbox');
  t.equal(store.recognize(bob, early.messageId, early.digest), 'duplicate', 'its seen entry is past the retention, the message is not');
  t.equal(store.recognize(bob, early.messageId, randomBytes(16)), 'id_reused', 'so another message under its id is still told apart');
  t.equal((await store.add(received(bob, 'next'))).cursor, compacting.cursor + 1);
});

t.test('a stored message is seen for seenRetentionMs, acked or not, also after reopening', async (t) => {
  const handle = openInbox(t, tempDir(t));
  const peer = newPeer();
  const message = await handle.store.add(received(peer));
  await handle.store.ack(peer, message.cursor);
  t.ok(remembers(handle.store, peer, message.messageId));
  t.equal(handle.store.recognize(peer, message.messageId, message.digest), 'duplicate');
  t.equal(handle.store.recognize(peer, message.messageId, randomBytes(16)), 'id_reused', 'another digest under the same id');
  t.equal(handle.store.recognize(newPeer(), message.messageId, message.digest), 'new', 'an id belongs to its sender');
  t.notOk(remembers(handle.store, newPeer(), message.messageId), 'and so does a message id');
  t.notOk(remembers(handle.store, peer, randomBytes(16).toString('hex')));
  await t.rejects(handle.store.add({ ...received(peer), messageId: message.messageId }), { name: 'P2pError', errorName: 'CONFLICT', message: /already stored/ });
  t.ok(await handle.store.add({ ...received(peer), digest: message.digest }), 'a digest alone names nothing');
  handle.clock.ms += RETENTION - 1;
  let store = await handle.reopen();
  t.ok(remembers(store, peer, message.messageId));
  t.equal(store.recognize(peer, message.messageId, randomBytes(16)), 'id_reused', 'the digest is read back from the file');
  handle.clock.ms += 1;
  t.notOk(remembers(store, peer, message.messageId));
  t.equal(store.recognize(peer, message.messageId, randomBytes(16)), 'new');
  store = await handle.reopen();
  t.notOk(remembers(store, peer, message.messageId), 'forgotten after reopening too');
  t.equal(store.recognize(peer, message.messageId, message.digest), 'new');
});

t.test('a copy arriving while the first is being stored is a duplicate', async (t) => {
  const { store } = openInbox(t, tempDir(t));
  const message = received(newPeer());
  const [first, copy] = await Promise.allSettled([store.add(message), store.add({ ...message })]);
  t.equal(first.status, 'fulfilled');
  t.match(copy, { status: 'rejected', reason: { name: 'P2pError', errorName: 'CONFLICT' } });
  t.equal(store.depth().messages, 1);
});

t.test('a peer gets only so many unacked messages and bytes', async (t) => {
  const { store } = openInbox(t, tempDir(t), { maxMessagesPerPeer: 2, maxBytesPerPeer: 10 });
  const peer = newPeer();
  const attempts = await Promise.allSettled([store.add(received(peer, 'one')), store.add(received(peer, 'two')), store.add(received(peer, 'six'))]);
  t.same(attempts.map((attempt) => attempt.status), ['fulfilled', 'fulfilled', 'rejected'], 'adds still being written count');
  await t.rejects(store.add(received(peer, 'x')), {
    errorName: 'LIMIT_REACHED',
    message: new RegExp(`^inbox for ${peer} is full \\(2 messages / 6 bytes\\): it keeps at most 2 messages / 10 bytes per peer`),
  });
  await store.add(received(newPeer(), 'other peer'));
  await store.ack(peer, 1);
  await t.rejects(store.add(received(peer, 'too long')), { name: 'P2pError', errorName: 'LIMIT_REACHED', message: /is full \(1 messages \/ 3 bytes\)/ });
  await store.add(received(peer, 'fits!!!'));
  t.same(store.depth(peer), { messages: 2, bytes: 10 });
});

t.test("a message id is its sender's: the same id from another peer is another message, a copy from the same peer a duplicate", async (t) => {
  const { store } = openInbox(t, tempDir(t));
  const [mallory, alice] = [newPeer(), newPeer()];
  const taken = received(mallory, 'first with this id');
  const reused = received(alice, 'same id, other sender', { messageId: taken.messageId });
  // Both at once: one id being written for one peer holds nothing up for the other.
  const [first, second] = await Promise.all([store.add(taken), store.add(reused)]);
  t.same(texts(await store.read(mallory, 0, 10)), ['first with this id']);
  t.same(texts(await store.read(alice, 0, 10)), ['same id, other sender']);
  t.not(first.cursor, second.cursor);
  t.ok(remembers(store, mallory, taken.messageId) && remembers(store, alice, taken.messageId));
  t.notOk(remembers(store, newPeer(), taken.messageId));
  for (const peer of [mallory, alice]) {
    await t.rejects(store.add(received(peer, 'copy', { messageId: taken.messageId })), { errorName: 'CONFLICT', message: /already stored/ }, 'a copy from the same peer');
  }
  await store.ack(mallory, first.cursor);
  await t.rejects(store.add(received(mallory, 'copy', { messageId: taken.messageId })), { name: 'P2pError', errorName: 'CONFLICT' }, 'acked, still seen');
  t.same(texts(await store.read(alice, 0, 10)), ['same id, other sender'], "acking one peer's message leaves the other's");
  t.same(store.depth(), { messages: 1, bytes: 21 });
});

t.test('the per-peer namespace survives reopening, from STORED and from compacted SEEN records alike', async (t) => {
  const handle = openInbox(t, tempDir(t));
  const [mallory, alice, carol] = [newPeer(), newPeer(), newPeer()];
  const messageId = randomBytes(16).toString('hex');
  const fromMallory = await handle.store.add(received(mallory, 'm', { messageId }));
  const fromAlice = await handle.store.add(received(alice, 'a', { messageId }));
  await handle.store.ack(mallory, fromMallory.cursor);
  let store = await handle.reopen();
  t.same(await store.read(alice, 0, 10), [fromAlice], 'replayed from the file as written');
  t.ok(remembers(store, mallory, messageId) && remembers(store, alice, messageId));

  // Enough acked bytes that the next write compacts: mallory's entry becomes a SEEN record, alice's message a STORED one.
  const big = new Uint8Array(60 * 1024).fill(3);
  const bigOnes = await Promise.all(Array.from({ length: 80 }, () => store.add(received(carol, big))));
  await store.ack(carol, Math.max(...bigOnes.map((m) => m.cursor)));
  await store.add(received(carol, 'compacting'));
  t.ok(statSync(handle.file).size < 64 * 1024, `compacted to ${statSync(handle.file).size} bytes`);
  store = await handle.reopen();
  t.same(await store.read(alice, 0, 10), [fromAlice]);
  t.ok(remembers(store, mallory, messageId), "mallory's acked message is still seen under mallory");
  t.ok(remembers(store, alice, messageId));
  t.equal(store.recognize(mallory, messageId, fromMallory.digest), 'duplicate', 'from the SEEN record');
  t.equal(store.recognize(mallory, messageId, fromAlice.digest), 'id_reused');
  t.equal(store.recognize(alice, messageId, fromAlice.digest), 'duplicate', 'from the STORED record');
  await t.rejects(store.add(received(mallory, 'copy', { messageId })), { name: 'P2pError', errorName: 'CONFLICT' });
  await t.rejects(store.add(received(alice, 'copy', { messageId })), { name: 'P2pError', errorName: 'CONFLICT' });
  const third = await store.add(received(newPeer(), 'a third sender', { messageId }));
  t.same(await store.read(third.peerId, 0, 10), [third]);
});

t.test('a peer at maxSeenPerPeer waits for its entries to age out, never evicting them, while others still store', async (t) => {
  const handle = openInbox(t, tempDir(t), { maxSeenPerPeer: 3 });
  const [fast, other] = [newPeer(), newPeer()];
  const early = [];
  for (let i = 0; i < 3; i += 1) {
    const message = await handle.store.add(received(fast));
    await handle.store.ack(fast, message.cursor);
    early.push(message);
    handle.clock.ms += 1000;
  }
  const perPeer = new RegExp(`remembers 3 messages from ${fast} stored in the last 60 s to refuse replays, the most it keeps per peer \\(3\\)`);
  await t.rejects(handle.store.add(received(fast)), { name: 'P2pError', errorName: 'LIMIT_REACHED', message: perPeer });
  t.ok(early.every((m) => remembers(handle.store, fast, m.messageId)), 'none forgotten to make room');
  const others = await Promise.all([handle.store.add(received(other)), handle.store.add(received(other)), handle.store.add(received(other))]);
  t.equal(others.length, 3, 'another peer stores up to its own bound');
  const store = await handle.reopen();
  await t.rejects(store.add(received(fast)), { errorName: 'LIMIT_REACHED', message: perPeer }, 'also after reopening');
  handle.clock.ms = START + RETENTION;
  await store.add(received(fast));
  await t.rejects(store.add(received(fast)), { name: 'P2pError', errorName: 'LIMIT_REACHED' }, 'the first one aged out, the other two not yet');
});

t.test('past half of maxSeen a peer at its fair share waits, the peers below theirs still store, and maxSeen is never passed', async (t) => {
  const handle = openInbox(t, tempDir(t), { maxSeen: 12 });
  const { store } = handle;
  const [fast, second, third, fourth, fifth] = [newPeer(), newPeer(), newPeer(), newPeer(), newPeer()];
  const storeAll = async (peer: string, count: number) => {
    for (let i = 0; i < count; i += 1) await store.add(received(peer));
  };
  // Adds still being written count: ten at once get the lower half, six.
  const flood = await Promise.allSettled(Array.from({ length: 10 }, () => store.add(received(fast))));
  t.equal(flood.filter((attempt) => attempt.status === 'fulfilled').length, 6);
  t.match(flood.find((attempt) => attempt.status === 'rejected'), {
    reason: { errorName: 'LIMIT_REACHED', message: new RegExp(`remembers 6 messages .*over half the most it keeps \\(12\\), and 6 are from ${fast}, its share among 1 peers`) },
  });
  // Two peers hold entries: a share is 3.
  await storeAll(second, 3);
  await t.rejects(store.add(received(second)), { name: 'P2pError', errorName: 'LIMIT_REACHED', message: new RegExp(`and 3 are from ${second}, its share among 2 peers`) });
  await t.rejects(store.add(received(fast)), { name: 'P2pError', errorName: 'LIMIT_REACHED' }, 'the fast peer still waits');
  // Three: a share is 2. Four: 1.5.
  await storeAll(third, 2);
  await t.rejects(store.add(received(third)), { name: 'P2pError', errorName: 'LIMIT_REACHED', message: /its share among 3 peers/ });
  await storeAll(fourth, 1);
  // maxSeen is reached only now that three peers hold more than a share: then everybody waits.
  const full = /remembers 12 messages stored in the last 60 s to refuse replays, the most it keeps \(12\)/;
  await t.rejects(store.add(received(fourth)), { name: 'P2pError', errorName: 'LIMIT_REACHED', message: full });
  await t.rejects(store.add(received(fifth)), { name: 'P2pError', errorName: 'LIMIT_REACHED', message: full });
  handle.clock.ms += RETENTION;
  await store.add(received(fifth));
  await store.add(received(fast));
  t.equal(store.depth(fast).messages, 7, 'once aged out, entries make room again; unacked messages stay');
});

t.test('one peer, however fast, never gets a peer below its fair share refused', async (t) => {
  const { store } = openInbox(t, tempDir(t), { maxSeen: 100, maxSeenPerPeer: 1000, maxMessagesPerPeer: 1000 });
  const fast = newPeer();
  const others = [newPeer(), newPeer(), newPeer(), newPeer()];
  for (const other of others) await store.add(received(other));
  const flood = await Promise.allSettled(Array.from({ length: 200 }, () => store.add(received(fast))));
  t.equal(flood.filter((attempt) => attempt.status === 'fulfilled').length, 46, 'the fast peer fills the lower half');
  // Five peers hold entries: a share is 10 each, and each of the others holds 1.
  for (let round = 0; round < 8; round += 1) {
    for (const other of others) await store.add(received(other));
  }
  t.same(others.map((other) => store.depth(other).messages), [9, 9, 9, 9]);
  await t.rejects(store.add(received(fast)), { name: 'P2pError', errorName: 'LIMIT_REACHED' });
  for (const other of others) await store.add(received(other));
  for (const other of others) await t.rejects(store.add(received(other)), { errorName: 'LIMIT_REACHED', message: /its share among 5 peers/ });
  t.equal(store.depth().messages, 86, 'short of maxSeen');
});

t.test("'stored' is emitted once the message is on disk, and only for stored messages", async (t) => {
  const { store, file } = openInbox(t, tempDir(t), { maxMessagesPerPeer: 1 });
  const peer = newPeer();
  const seen: StoredMessage[] = [];
  const sizeBefore = statSync(file).size;
  store.on('stored', (message) => {
    t.ok(store.hasMessagesAfter(peer, message.cursor - 1), 'listed when emitted');
    t.ok(statSync(file).size > sizeBefore, 'on disk when emitted');
    seen.push(message);
  });
  const stored = await store.add(received(peer));
  await t.rejects(store.add(received(peer)), { name: 'P2pError', errorName: 'LIMIT_REACHED' });
  t.same(seen, [stored]);
  t.same(await store.read(peer, 0, 10), [stored]);
});

t.test('fields the file cannot hold are refused', async (t) => {
  const { store } = openInbox(t, tempDir(t));
  const peer = newPeer();
  await t.rejects(store.add(received(peer, 'x', { messageId: 'xyz' })), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  await t.rejects(store.add(received(peer, 'x', { digest: new Uint8Array(15) })), { name: 'P2pError', errorName: 'INVALID_INPUT', message: /digest has 16 bytes/ });
  await t.rejects(store.add(received(peer, 'x', { proof: new Uint8Array(MAX_PROOF_BYTES + 1) })), { name: 'P2pError', errorName: 'INVALID_INPUT', message: /proof has at most/ });
  await t.rejects(store.add(received(peer, 'x', { sentAt: new Date(Number.NaN) })), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  await t.rejects(store.add(received(peer, 'x', { correlationId: '' })), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  t.same(store.depth(), { messages: 0, bytes: 0 });
});

t.test('a crash in the middle of a write loses only that unfinished record', async (t) => {
  const handle = openInbox(t, tempDir(t));
  const peer = newPeer();
  await handle.store.add(received(peer, 'one'));
  await handle.store.add(received(peer, 'two'));
  await handle.store.add(received(peer, 'three'));
  await handle.store.close();
  truncateSync(handle.file, statSync(handle.file).size - 3);
  const store = await handle.reopen();
  t.same(texts(await store.read(peer, 0, 10)), ['one', 'two']);
  t.equal((await store.add(received(peer, 'four'))).cursor, 3);
  t.same(texts(await (await handle.reopen()).read(peer, 0, 10)), ['one', 'two', 'four']);
});

t.test('a record that checks out but is not an inbox record is refused, naming the file', async (t) => {
  const dir = tempDir(t);
  const { log } = RecordLog.open(join(dir, INBOX_FILE_NAME), { maxRecordBytes: 100 });
  await log.append(new Uint8Array([5, 0, 0]));
  await log.close();
  t.throws(() => InboxStore.open(dir), {
    errorName: 'STATE_FILE_CORRUPT',
    message: /^the inbox .*inbox\.log is corrupt: record 1 is not an inbox record \(it ends before its last field\)\. .*move the file away/,
  });
});

t.test("protocol 1's STORED record (kind 1, a nonce and no proof) is not read", async (t) => {
  const dir = tempDir(t);
  const { log } = RecordLog.open(join(dir, INBOX_FILE_NAME), { maxRecordBytes: 1024 });
  await log.append(new Uint8Array(1 + 8 + 50 + 16 + 8 + 8 + 4 + 5).fill(0).fill(1, 0, 1));
  await log.close();
  t.throws(() => InboxStore.open(dir), { errorName: 'STATE_FILE_CORRUPT', message: /is not an inbox record \(its kind is 1\)/ });
});

t.test('content stays on disk: memory holds none of it once stored, however many bytes are unacked', async (t) => {
  const size = 512 * 1024;
  const count = 100;
  const maxRecentBytes = 1024 * 1024;
  const { store } = openInbox(t, tempDir(t), { maxBytesPerPeer: 2 * count * size, maxRecentBytes });
  const peer = newPeer();
  collectGarbage();
  const before = process.memoryUsage().arrayBuffers;
  // What add returns holds the content it was given, so it is dropped along with this function's frame.
  const storeTen = async (group: number): Promise<void> => {
    const adds = Array.from({ length: 10 }, (_, i) => store.add(received(peer, new Uint8Array(size).fill(group * 10 + i))));
    t.ok(store.heldMessageBytes() >= 10 * size, 'adds being written hold their content');
    await Promise.all(adds);
  };
  for (let group = 0; group < count / 10; group += 1) {
    await storeTen(group);
    t.ok(store.heldMessageBytes() <= maxRecentBytes, 'stored ones hold none but the newest records');
  }
  t.same(store.depth(), { messages: count, bytes: count * size });
  // The last write resolved its promise from inside its completion callback, and Node drops that request, which
  // holds the written buffer, only once the callback returns: measured after it, not within.
  await new Promise<void>((resolve) => setImmediate(resolve));
  collectGarbage();
  const held = process.memoryUsage().arrayBuffers - before;
  t.ok(held < maxRecentBytes + 2 * 1024 * 1024, `${count * size} bytes unacked, ${held} bytes of buffers held`);
  const read = await store.read(peer, 40, 3);
  t.same(
    read.map((message) => [message.cursor, message.content.length, message.content[0], message.content[size - 1]]),
    [41, 42, 43].map((cursor) => [cursor, size, cursor - 1, cursor - 1]),
  );
});

t.test('a read holds at most maxReadBytes of content, always at least one message, and at most limit', async (t) => {
  const { store } = openInbox(t, tempDir(t), { maxReadBytes: 100 });
  const peer = newPeer();
  for (const text of ['a'.repeat(40), 'b'.repeat(40), 'c'.repeat(40), 'd'.repeat(150), 'e', 'f']) await store.add(received(peer, text));
  const lengths = async (after: number, limit: number) => (await store.read(peer, after, limit)).map((message) => message.content.length);
  t.same(await lengths(0, 10), [40, 40], 'a third would pass 100 bytes');
  t.same(await lengths(2, 10), [40]);
  t.same(await lengths(3, 10), [150], 'one larger than maxReadBytes comes alone');
  t.same(await lengths(4, 10), [1, 1]);
  t.same(await lengths(0, 1), [40]);
  t.same(await lengths(6, 10), []);
  t.ok(store.hasMessagesAfter(peer, 5));
  t.notOk(store.hasMessagesAfter(peer, 6));
  t.notOk(store.hasMessagesAfter(newPeer(), 0));
});

t.test('messages are read back right while a compaction moves them, after it, and after reopening', async (t) => {
  const handle = openInbox(t, tempDir(t));
  const [alice, bob] = [newPeer(), newPeer()];
  const big = new Uint8Array(60 * 1024).fill(9);
  const expected: string[] = [];
  const cursors: number[] = [];
  for (let i = 0; i < 40; i += 1) {
    expected.push(`alice ${i}`);
    cursors.push((await handle.store.add(received(alice, `alice ${i}`))).cursor);
    await Promise.all([handle.store.add(received(bob, big)), handle.store.add(received(bob, big))]);
  }
  t.equal(await handle.store.ack(bob, Number.MAX_SAFE_INTEGER), 80);
  const sizeBefore = statSync(handle.file).size;
  // The read takes the file and places as they are; the add compacts the file under it.
  const during = handle.store.read(alice, 0, 100);
  await handle.store.add(received(alice, 'compacting'));
  t.same(texts(await during), expected);
  t.ok(statSync(handle.file).size < sizeBefore / 10, `compacted from ${sizeBefore} to ${statSync(handle.file).size} bytes`);
  expected.push('compacting');
  t.same(texts(await handle.store.read(alice, 0, 100)), expected, 'read from where the compaction moved them');
  t.same(texts(await handle.store.read(alice, cursors[19] ?? 0, 5)), expected.slice(20, 25));
  const store = await handle.reopen();
  t.same(texts(await store.read(alice, 0, 100)), expected, 'and where reopening found them');
});

t.test('a damaged message fails its read, counted and named; nothing else in the inbox is affected', async (t) => {
  const handle = openInbox(t, tempDir(t));
  const { store } = handle;
  const [peer, other] = [newPeer(), newPeer()];
  const first = await store.add(received(peer, 'first, intact'));
  const damaged = await store.add(received(peer, 'second, damaged on disk'));
  await store.add(received(peer, 'third, intact'));
  await store.add(received(other, "another peer's"));
  damage(handle.file, 'second, damaged');
  t.same(texts(await store.read(peer, 0, 10)), ['first, intact'], 'the messages before it are returned');
  t.equal(store.unreadableCount, 0, 'no failure yet');
  await t.rejects(store.read(peer, first.cursor, 10), {
    name: 'P2pError',
    errorName: 'STATE_FILE_CORRUPT',
    message: new RegExp(
      `^message ${damaged.messageId} \\(cursor ${damaged.cursor}\\) from ${peer} cannot be read back from the inbox ` +
        `\\(.*inbox\\.log no longer holds the record of \\d+ bytes written at byte \\d+: the record there fails its checksum\\)\\. ` +
        `Nothing else in the inbox is affected: .* ack through cursor ${damaged.cursor} to drop this message`,
    ),
  });
  t.equal(store.unreadableCount, 1);
  t.same(store.depth(), { messages: 4, bytes: 13 + 23 + 13 + 14 }, 'still in the inbox, as is everything else');
  t.ok(remembers(store, peer, damaged.messageId));
  t.same(texts(await store.read(peer, damaged.cursor, 10)), ['third, intact']);
  t.same(texts(await store.read(other, 0, 10)), ["another peer's"]);
  t.equal(await store.ack(peer, damaged.cursor), 2, 'acking through it drops it');
  t.same(texts(await store.read(peer, 0, 10)), ['third, intact']);
  t.equal(store.unreadableCount, 1);
});

t.test('a file cut short under the inbox fails the reads of what it lost, and the inbox goes on', async (t) => {
  const handle = openInbox(t, tempDir(t));
  const { store } = handle;
  const peer = newPeer();
  const kept = await store.add(received(peer, 'kept'));
  const lost = await store.add(received(peer, 'cut off'));
  truncateSync(handle.file, statSync(handle.file).size - 3);
  await t.rejects(store.read(peer, kept.cursor, 10), { errorName: 'STATE_FILE_CORRUPT', message: new RegExp(`cursor ${lost.cursor}.*the file ends at byte`) });
  t.equal(store.unreadableCount, 1);
  const after = await store.add(received(peer, 'stored after'));
  t.same(texts(await store.read(peer, 0, 10)), ['kept']);
  t.same(texts(await store.read(peer, lost.cursor, 10)), ['stored after']);
  t.same(store.depth(peer).messages, 3);
  t.equal(after.cursor, lost.cursor + 1);
});

t.test('a read the disk fails is an internal error naming the message, counted; the next read may succeed', async (t) => {
  let failing = false;
  const realRead = promisify(fs.read);
  const read = Object.assign((...args: Parameters<typeof fs.read>) => fs.read(...args), {
    [promisify.custom]: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) =>
      failing ? Promise.reject(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' })) : realRead(fd, buffer, offset, length, position),
  });
  const { InboxStore: Inbox } = t.mockRequire<typeof import('../../extension/store/inbox')>('../../extension/store/inbox', {
    'node:fs': { ...fs, read },
  });
  const store = Inbox.open(tempDir(t), { seenRetentionMs: RETENTION, maxRecentBytes: 0 });
  t.teardown(() => store.close());
  const peer = newPeer();
  const message = await store.add(received(peer, 'on a failing disk'));
  failing = true;
  await t.rejects(store.read(peer, 0, 10), {
    name: 'P2pError',
    errorName: 'INTERNAL_ERROR',
    message: new RegExp(`^message ${message.messageId} \\(cursor 1\\) from ${peer} cannot be read back from the inbox \\(EIO: i/o error, read\\)`),
  });
  t.equal(store.unreadableCount, 1);
  failing = false;
  t.same(texts(await store.read(peer, 0, 10)), ['on a failing disk']);
});

t.test('the newest records are kept in memory too, within maxRecentBytes: read from there, dropped once acked or pushed out', async (t) => {
  // A STORED record of a 9-byte content without correlation id: 95 bytes of fields and times, the proof with its length, and the content.
  const recordBytes = 95 + 4 + 140 + 9;
  const handle = openInbox(t, tempDir(t), { maxRecentBytes: 3 * recordBytes });
  const { store } = handle;
  const peer = newPeer();
  const stored: StoredMessage[] = [];
  for (let i = 1; i <= 5; i += 1) stored.push(await store.add(received(peer, `message ${i}`)));
  t.equal(store.heldMessageBytes(), 3 * recordBytes, 'the three newest');
  for (let i = 1; i <= 5; i += 1) damage(handle.file, `message ${i}`);
  await t.rejects(store.read(peer, 0, 10), { name: 'P2pError', errorName: 'STATE_FILE_CORRUPT' }, 'the oldest come from the file');
  t.same(texts(await store.read(peer, stored[1]?.cursor ?? 0, 10)), ['message 3', 'message 4', 'message 5'], 'the newest from memory');
  t.equal(await store.ack(peer, stored[2]?.cursor ?? 0), 3);
  t.equal(store.heldMessageBytes(), 2 * recordBytes, 'an acked record is let go');
  await store.add(received(peer, 'message 6'));
  await store.add(received(peer, 'message 7'));
  t.equal(store.heldMessageBytes(), 3 * recordBytes, 'never more than maxRecentBytes');
  await t.rejects(store.read(peer, 0, 10), { name: 'P2pError', errorName: 'STATE_FILE_CORRUPT' }, 'message 4 was pushed out: it comes from the damaged file');
  t.same(texts(await store.read(peer, stored[3]?.cursor ?? 0, 10)), ['message 5', 'message 6', 'message 7']);
  const small = openInbox(t, tempDir(t), { maxRecentBytes: 100 }).store;
  await small.add(received(peer, 'a record larger than the whole budget'));
  t.equal(small.heldMessageBytes(), 0, 'a record larger than maxRecentBytes is not kept');
});
