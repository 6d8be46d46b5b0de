import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { GROUP_MESSAGES_FILE_NAME, type GroupMessageLimits, GroupMessageLog } from '../../extension/groups/group-messages';
import { RecordLog, RecordWriter } from '../../extension/store/record-log';
import type { GroupEnvelope } from '../../extension/wire/group-payload';
import type { EpochStatement } from '../../extension/wire/group-statement';
import { tempDir } from '../helpers/extension';
import { createStatement, envelopeBy, GROUP_TIME, groupHistory, type GroupPerson } from '../helpers/groups';

const { alice, bob, carol, epochs } = groupHistory();
const e2 = epochs[2] as EpochStatement;
const group = e2.group;

function openLog(t: Test, limits: Partial<GroupMessageLimits> = {}) {
  const dir = tempDir(t);
  const clock = { ms: GROUP_TIME };
  const handle = {
    dir,
    file: join(dir, GROUP_MESSAGES_FILE_NAME),
    log: GroupMessageLog.open(dir, limits, () => clock.ms),
    async reopen(): Promise<GroupMessageLog> {
      await handle.log.close();
      handle.log = GroupMessageLog.open(dir, limits, () => clock.ms);
      return handle.log;
    },
  };
  t.teardown(() => handle.log.close().catch(() => undefined));
  return handle;
}

function message(author: GroupPerson, seq: number, content = `message ${seq}`): GroupEnvelope {
  return envelopeBy(author, e2, { seq, prev_epoch: seq === 1 ? 0 : 2, id: randomBytes(16).toString('hex'), content });
}

t.test('stored, held, delivered, acked, dropped and forgotten messages are as they were after reopening', async (t) => {
  const handle = openLog(t);
  const first = await handle.log.store(message(bob, 1), { held: false });
  const held = await handle.log.store(message(bob, 3), { held: true });
  const released = await handle.log.store(message(carol, 2), { held: true });
  const dropped = await handle.log.store(message(carol, 5), { held: true });
  t.match(first, { slot: 1, cursor: 1, group, author: bob.peer, seq: 1, receivedAt: GROUP_TIME });
  t.equal(held.cursor, null, 'a held message has no cursor yet');
  t.equal((await handle.log.deliver(released.slot)).cursor, 2, 'a released message is read after those readable before it');
  await handle.log.drop(dropped.slot);
  const other = createStatement(carol);
  await handle.log.store(envelopeBy(carol, other, { id: 'd0'.repeat(16) }), { held: false });
  await handle.log.forgetGroup(other.group);

  let log = await handle.reopen();
  t.same(log.counts(group), { held: 1, unread: 2, bytes: first.bytes + held.bytes + released.bytes, heldBytes: held.bytes, ackedThrough: 0 });
  t.same(log.groupIds(), [group], 'a forgotten group is gone');
  t.same(log.held(group).map((kept) => kept.seq), [3]);
  t.equal(log.find(group, carol.peer, 5), undefined, 'a dropped message is gone');
  const read = await log.read(group, 0, 10);
  t.same(read.map((kept) => [kept.cursor, kept.author, kept.seq]), [[1, bob.peer, 1], [2, carol.peer, 2]]);
  t.same(read[0]?.envelope, (await log.read(group, 0, 1))[0]?.envelope);
  t.equal(read[1]?.envelope.content, 'message 2', 'the envelope is read back from the file');

  t.equal(await log.ack(group, 1), 1);
  log = await handle.reopen();
  t.same((await log.read(group, 0, 10)).map((kept) => kept.cursor), [2], 'acked messages are not read again');
  t.equal(log.counts(group).ackedThrough, 1);
  t.equal((await log.deliver(held.slot)).cursor, 4, 'cursors go on after reopening (the forgotten group took 3)');
  t.same((await log.read(group, 2, 10)).map((kept) => kept.seq), [3], 'a reader going on after its last cursor gets the message released late');
  t.equal(await log.ack(group, 4), 2);
  t.equal(await log.ack(group, 4), 0, 'acking again changes nothing');
  await t.rejects(log.ack(group, 99), { name: 'P2pError', errorName: 'INVALID_INPUT', message: /never given out/ });
  await t.rejects(log.deliver(999), { name: 'P2pError', errorName: 'NOT_FOUND' });
});

t.test('the same message again is the one kept; another under its seq is a conflict', async (t) => {
  const { log } = openLog(t);
  const envelope = message(bob, 1);
  const kept = await log.store(envelope, { held: false });
  t.same(await log.store(envelope, { held: true }), kept, 'an inbox replay after a crash');
  await t.rejects(log.store(message(bob, 1), { held: false }), { name: 'P2pError', errorName: 'CONFLICT', message: /seq_reused/ });
  t.equal(log.counts(group).unread, 1);
  const stored = await log.store(message(alice, 1), { held: true });
  await t.rejects(log.drop(kept.slot), { name: 'P2pError', errorName: 'CONFLICT' }, 'a readable message is acked, not dropped');
  await log.drop(stored.slot);
  await log.drop(stored.slot);
  t.equal(log.counts(group).held, 0, 'dropping twice is no error');
});

t.test('held, unread and bytes are bounded per group', async (t) => {
  const { log } = openLog(t, { maxHeldPerGroup: 2, maxUnreadPerGroup: 2, maxBytesPerGroup: 12_000 });
  await log.store(message(bob, 2), { held: true });
  await log.store(message(bob, 3), { held: true });
  await t.rejects(log.store(message(bob, 4), { held: true }), { name: 'P2pError', errorName: 'LIMIT_REACHED', message: /2 messages of .* wait .*P2P_COMM_GROUP_MAX_HELD/ });
  await log.store(message(carol, 1), { held: false });
  await log.store(message(carol, 2), { held: false });
  await t.rejects(log.store(message(carol, 3), { held: false }), { name: 'P2pError', errorName: 'LIMIT_REACHED', message: /2 messages of .* not acked.*P2P_COMM_GROUP_MAX_UNREAD/ });
  t.equal(await log.ack(group, 2), 2);
  await log.store(message(carol, 3, 'x'.repeat(10_000)), { held: false });
  await t.rejects(log.store(message(carol, 4, 'x'.repeat(2_000)), { held: false }), { name: 'P2pError', errorName: 'LIMIT_REACHED', message: /P2P_COMM_GROUP_MAX_STORED_BYTES/ });
  const elsewhere = createStatement(carol);
  await log.store(envelopeBy(carol, elsewhere, { id: 'e0'.repeat(16) }), { held: false });
  t.equal(log.counts(elsewhere.group).unread, 1, 'another group has its own room');
});

t.test('held messages have their own share of the stored bytes: a quarter, yet room for the largest envelope', async (t) => {
  t.equal(openLog(t, { maxBytesPerGroup: 64 * 1024 * 1024 }).log.limits.maxHeldBytesPerGroup, 16 * 1024 * 1024);
  t.equal(openLog(t, { maxBytesPerGroup: 300_000 }).log.limits.maxHeldBytesPerGroup, 262_144, 'one envelope of the largest size still fits');
  const { log } = openLog(t, { maxHeldBytesPerGroup: 12_000 });
  await log.store(message(bob, 2, 'x'.repeat(10_000)), { held: true });
  await t.rejects(log.store(message(bob, 3, 'x'.repeat(2_000)), { held: true }), { name: 'P2pError', errorName: 'LIMIT_REACHED', message: /wait for earlier ones take/ });
  await log.store(message(bob, 1, 'x'.repeat(2_000)), { held: false });
  t.equal(log.counts(group).heldBytes, log.held(group)[0]?.bytes, 'readable messages are not in the held share');
});

t.test('a torn last record is dropped at reopening, as in the other journals; damage before the end is refused', async (t) => {
  const handle = openLog(t);
  await handle.log.store(message(bob, 1), { held: false });
  const held = await handle.log.store(message(bob, 3), { held: true });
  await handle.log.deliver(held.slot);
  await handle.log.close();
  truncateSync(handle.file, statSync(handle.file).size - 3);
  const log = await handle.reopen();
  t.same(log.held(group).map((kept) => kept.slot), [held.slot], 'the torn DELIVERED record is not there; what came before it is');
  t.equal((await log.deliver(held.slot)).cursor, 2);
  await handle.reopen();
  t.equal(handle.log.counts(group).unread, 2);

  await handle.log.close();
  const bytes = readFileSync(handle.file);
  bytes[40] = (bytes[40] as number) ^ 0xff;
  writeFileSync(handle.file, bytes);
  t.throws(() => GroupMessageLog.open(handle.dir), { name: 'P2pError', errorName: 'STATE_FILE_CORRUPT', message: /is corrupt/ });
});

t.test('records that frame well but say nothing valid are refused, naming the problem', async (t) => {
  const envelope = message(bob, 1);
  const json = Buffer.from(JSON.stringify(envelope), 'utf8');
  const stored = (change: { group?: string; author?: Uint8Array; seq?: number; json?: Uint8Array } = {}): Uint8Array => {
    const body = change.json ?? json;
    return new RecordWriter(1 + 24 + 32 + 32 + 4 + body.length)
      .u8(1)
      .uint(1)
      .uint(1)
      .uint(GROUP_TIME)
      .latin1((change.group ?? group).slice(4))
      .bytes(change.author ?? bob.identity.publicKey)
      .u32(change.seq ?? 1)
      .bytes(body)
      .finish();
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ['an unknown kind', Uint8Array.of(9), /kind 9/],
    ['a header that names another seq', stored({ seq: 2 }), /not the message its header names/],
    ['a header that names another author', stored({ author: carol.identity.publicKey }), /not the message its header names/],
    ['an envelope that breaks the wire rules', stored({ json: Buffer.from(JSON.stringify({ ...envelope, extra: 1 })) }), /envelope is not one/],
    ['an envelope that is not JSON', stored({ json: Buffer.from('{"t":') }), /envelope is not one/],
    ['a group id out of the alphabet', stored({ group: 'grp-' + '1'.repeat(32) }), /names no group/],
    ['a slot of 0', new RecordWriter(9).u8(4).uint(0).finish(), /slot is 0/],
    ['a gap flag neither 0 nor 1', new RecordWriter(18).u8(2).uint(1).uint(1).u8(2).finish(), /gap flag is 2/],
    ['bytes after a record', Buffer.concat([new RecordWriter(9).u8(4).uint(1).finish(), Uint8Array.of(0)]), /follow its last field/],
  ];
  for (const [what, body, problem] of cases) {
    const dir = tempDir(t);
    const { log } = RecordLog.open(join(dir, GROUP_MESSAGES_FILE_NAME), { maxRecordBytes: 1 << 20 });
    await log.append(body);
    await log.close();
    t.throws(() => GroupMessageLog.open(dir), { name: 'P2pError', errorName: 'STATE_FILE_CORRUPT', message: new RegExp(`unread group message log .* record 1 is not an unread group message log record \\(.*${problem.source}`) }, what);
  }
  const dir = tempDir(t);
  const { log } = RecordLog.open(join(dir, GROUP_MESSAGES_FILE_NAME), { maxRecordBytes: 1 << 20 });
  await log.append(stored());
  await log.close();
  const opened = GroupMessageLog.open(dir);
  t.equal((await opened.read(group, 0, 1))[0]?.envelope.id, envelope.id, 'a valid record opens');
  await opened.close();
});

t.test('acked, dropped and forgotten messages leave the file at its next compaction: the log does not grow for ever', async (t) => {
  const handle = openLog(t, { compactionMinBytes: 16 * 1024 });
  const bulk = 'x'.repeat(2000);
  const other = createStatement(carol);
  const kept = await handle.log.store(envelopeBy(carol, other, { id: 'f0'.repeat(16), content: 'kept through every compaction' }), { held: false });
  let largest = 0;
  for (let seq = 1; seq <= 300; seq += 1) {
    let readable = await handle.log.store(message(bob, seq, bulk), { held: seq % 3 === 0 });
    if (readable.cursor === null) readable = await handle.log.deliver(readable.slot);
    const held = await handle.log.store(message(carol, seq, bulk), { held: true });
    await handle.log.drop(held.slot);
    t.equal(await handle.log.ack(group, readable.cursor as number), 1, `message ${seq} acked`);
    largest = Math.max(largest, statSync(handle.file).size);
  }
  t.ok(largest < 64 * 1024, `the file stays near the compaction threshold (largest ${largest} bytes for 600 messages of about 2.3 KB)`);
  t.equal((await handle.log.read(other.group, 0, 1))[0]?.envelope.content, 'kept through every compaction', 'a message carried over by compactions reads back');
  const acked = handle.log.counts(group).ackedThrough;
  // The last cursor goes to a group then forgotten, and held messages dropped force a compaction: no record left names that cursor.
  const gone = createStatement(bob);
  const last = (await handle.log.store(envelopeBy(bob, gone, { id: 'a0'.repeat(16) }), { held: false })).cursor as number;
  await handle.log.forgetGroup(gone.group);
  for (let seq = 301; seq <= 310; seq += 1) await handle.log.drop((await handle.log.store(message(carol, seq, bulk), { held: true })).slot);
  t.ok(statSync(handle.file).size < 16 * 1024, 'compacted since');
  const log = await handle.reopen();
  t.same(log.counts(group), { held: 0, unread: 0, bytes: 0, heldBytes: 0, ackedThrough: acked });
  t.same((await log.read(other.group, 0, 1)).map((read) => [read.cursor, read.envelope.content]), [[kept.cursor, 'kept through every compaction']], 'and after reopening');
  await log.ack(other.group, kept.cursor as number);
  await log.forgetGroup(other.group);
  t.equal((await log.store(message(alice, 2), { held: false })).cursor, last + 1, 'cursors go on from the last given out');
});

t.test('a message released without its predecessor keeps its gap mark across reopening and compaction; readable and envelopes list what is kept', async (t) => {
  const handle = openLog(t, { compactionMinBytes: 1 });
  const first = await handle.log.store(message(bob, 1), { held: false });
  const late = await handle.log.store(message(bob, 4, 'after a gap'), { held: true });
  const inOrder = await handle.log.store(message(carol, 2), { held: true });
  t.same((await handle.log.envelopes([late, first])).map((envelope) => envelope.seq), [4, 1], 'held and readable envelopes are read back in the order asked');
  t.equal((await handle.log.deliver(late.slot, { gap: true })).gap, true);
  t.equal((await handle.log.deliver(inOrder.slot)).gap, false);
  t.same(handle.log.readable(group).map((kept) => [kept.seq, kept.gap]), [[1, false], [4, true], [2, false]]);
  let log = await handle.reopen();
  t.same(log.readable(group).map((kept) => [kept.seq, kept.gap]), [[1, false], [4, true], [2, false]], 'the mark is in the DELIVERED record');
  await log.ack(group, 1);
  await log.store(message(carol, 3), { held: false });
  log = await handle.reopen();
  t.same(log.readable(group).map((kept) => [kept.seq, kept.gap]), [[4, true], [2, false], [3, false]], 'a compaction writes the mark again');
  t.same((await log.read(group, 0, 10)).map((kept) => kept.gap), [true, false, false]);
});

