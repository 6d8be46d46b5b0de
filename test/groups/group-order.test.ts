import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { type GroupMessageLimits, GroupMessageLog } from '../../extension/groups/group-messages';
import { GroupOrder, MAX_UNCHECKED_PER_AUTHOR } from '../../extension/groups/group-order';
import { GroupStore } from '../../extension/groups/group-store';
import type { GroupEnvelope } from '../../extension/wire/group-payload';
import { type EpochStatement, signInviteStatement } from '../../extension/wire/group-statement';
import { tempDir } from '../helpers/extension';
import { envelopeBy, GROUP_TIME, groupHistory, type GroupPerson, memberOf, nextStatement } from '../helpers/groups';

// Alice creates, Bob joins at 1, Carol at 2, Bob leaves at 3. This node is
// Carol: paired with Alice (the creator) only, so Bob's messages reach it
// through Alice.
const { alice, bob, carol, epochs } = groupHistory();
const [e0, e1, e2, e3] = epochs as [EpochStatement, EpochStatement, EpochStatement, EpochStatement];
const group = e2.group;
const HOLD_MS = 7 * 24 * 3600 * 1000;

interface Node {
  dir: string;
  clock: { ms: number };
  revoked: Set<string>;
  store: GroupStore;
  log: GroupMessageLog;
  order: GroupOrder;
  /** Closes and opens everything again from the files: a restart. */
  restart(): Promise<void>;
}

/** Carol's node, a member since epoch 2 (the store holds epochs 1 and 2). */
function carolNode(t: Test, limits: Partial<GroupMessageLimits> = {}): Node {
  const dir = tempDir(t);
  const clock = { ms: GROUP_TIME };
  const revoked = new Set<string>();
  const open = () => {
    const store = GroupStore.open(dir, carol.peer, {}, () => new Date(clock.ms));
    const log = GroupMessageLog.open(dir, limits, () => clock.ms);
    const order = new GroupOrder({
      self: carol.peer,
      groups: store,
      log,
      peers: { pinnedKey: (peer) => (peer === alice.peer ? alice.identity.publicKey : null), isRevoked: (peer) => revoked.has(peer) },
      gapHoldMs: HOLD_MS,
      now: () => clock.ms,
    });
    return { store, log, order };
  };
  const first = open();
  const invite = signInviteStatement({ t: 'invite', group, invitee: carol.peer, epoch: 1, at: GROUP_TIME }, alice.identity);
  first.store.addInvite(invite, [e0, e1], alice.identity.publicKey);
  // Carol accepted: the epoch that adds her carries the join she signed.
  for (const change of e2.changes) if (change.op === 'add' && change.peer === carol.peer) first.store.recordJoin(group, change.join);
  t.equal(first.store.recordEpoch(group, e2).outcome, 'applied');
  const node: Node = {
    dir,
    clock,
    revoked,
    ...first,
    async restart() {
      await node.log.close();
      Object.assign(node, open());
    },
  };
  t.teardown(() => node.log.close().catch(() => undefined));
  return node;
}

function message(author: GroupPerson, seq: number, change: Partial<Omit<GroupEnvelope, 'sig'>> = {}): GroupEnvelope {
  return envelopeBy(author, e2, { seq, prev_epoch: seq === 1 ? 0 : 2, id: randomBytes(16).toString('hex'), content: `${author.name} ${seq}`, ...change });
}

/** Alice's envelopes come straight from her; Bob's through Alice. */
function receive(node: Node, envelope: GroupEnvelope) {
  return node.order.receive({ envelope, relay: null }, envelope.author === bob.peer ? alice.peer : envelope.author);
}

async function readable(node: Node): Promise<Array<[string, number, boolean]>> {
  return (await node.log.read(group, 0, 100)).map((kept) => [kept.author === alice.peer ? 'alice' : 'bob', kept.seq, kept.gap]);
}

t.test('messages in order are readable at once and move last_seq', async (t) => {
  const node = carolNode(t);
  const one = await receive(node, message(alice, 1));
  t.match(one, { verdict: 'delivered', relayTo: [] });
  t.same(one.delivered.map((kept) => kept.seq), [1]);
  t.equal((await receive(node, message(alice, 2))).verdict, 'delivered');
  t.same(node.store.get(group)?.lastSeq, { [alice.peer]: 2 });
  t.same(await readable(node), [['alice', 1, false], ['alice', 2, false]]);
});

t.test('messages out of order are held, then released in seq order when the missing one comes', async (t) => {
  const node = carolNode(t);
  await receive(node, message(alice, 1));
  t.match(await receive(node, message(alice, 4)), { verdict: 'held', waitingFor: 'predecessor', delivered: [] });
  t.match(await receive(node, message(alice, 3)), { verdict: 'held', waitingFor: 'predecessor' });
  t.same(await readable(node), [['alice', 1, false]], 'nothing after a missing message is readable');
  t.equal(node.store.get(group)?.lastSeq[alice.peer], 1);
  const two = await receive(node, message(alice, 2));
  t.equal(two.verdict, 'delivered');
  t.same(two.delivered.map((kept) => kept.seq), [2, 3, 4], 'the chain goes readable in order');
  t.same(two.delivered.map((kept) => kept.cursor), [2, 3, 4]);
  t.same(await readable(node), [['alice', 1, false], ['alice', 2, false], ['alice', 3, false], ['alice', 4, false]]);
  t.equal(node.store.get(group)?.lastSeq[alice.peer], 4);
  t.equal(node.log.counts(group).held, 0);
});

t.test('a copy taken in twice is a duplicate, whether still unread, held or acked; another message under a used seq is seq_reused', async (t) => {
  const node = carolNode(t);
  const first = message(alice, 1);
  const third = message(alice, 3);
  await receive(node, first);
  await receive(node, third);
  t.match(await receive(node, first), { verdict: 'duplicate', delivered: [] }, 'unread');
  t.match(await receive(node, third), { verdict: 'duplicate', delivered: [] }, 'held');
  await node.log.ack(group, 1);
  t.match(await receive(node, first), { verdict: 'duplicate' }, 'acked: last_seq tells');
  t.same(await readable(node), []);
  t.match(await receive(node, message(alice, 3)), { verdict: 'refused', refusal: 'seq_reused', chargeable: true }, 'another id under a held seq');
  const second = message(alice, 2);
  await receive(node, second);
  t.match(await receive(node, message(alice, 2)), { verdict: 'refused', refusal: 'seq_reused', chargeable: true }, 'another id under a readable seq');
  t.same(node.order.counters(), { group_duplicate: 3, group_seq_reused: 2 });
  t.same((await node.log.read(group, 0, 10)).map((kept) => kept.id), [second.id, third.id], 'the first message under a seq is the one kept');
});

t.test("an author's first message after this node joined is readable when its predecessor went to an epoch before", async (t) => {
  const node = carolNode(t);
  // Bob wrote seq 1-4 before Carol joined at epoch 2; seq 5 follows one sent at epoch 1.
  t.equal((await receive(node, message(bob, 5, { prev_epoch: 1 }))).verdict, 'delivered');
  t.equal(node.store.get(group)?.lastSeq[bob.peer], 5);
  t.equal((await receive(node, message(bob, 4, { prev_epoch: 1 }))).verdict, 'duplicate', 'an older one relayed late is not taken');
  t.match(await receive(node, message(alice, 7, { prev_epoch: 2 })), { verdict: 'held', waitingFor: 'predecessor' }, 'a predecessor sent at epoch 2 reaches this node: wait for it');
});

t.test('a full held set releases the oldest waiting author with a gap to make room: nothing is lost, and it is counted', async (t) => {
  const node = carolNode(t, { maxHeldPerGroup: 2 });
  await receive(node, message(alice, 1));
  await receive(node, message(alice, 3));
  await receive(node, message(alice, 4));
  const sixth = await receive(node, message(alice, 6));
  t.match(sixth, { verdict: 'held', waitingFor: 'predecessor' });
  t.same(sixth.delivered.map((kept) => [kept.seq, kept.gap]), [[3, true], [4, false]], 'seq 3 went without seq 2, and seq 4 after it');
  t.same(await readable(node), [['alice', 1, false], ['alice', 3, true], ['alice', 4, false]]);
  t.same(node.log.held(group).map((kept) => kept.seq), [6]);
  t.same(node.order.counters(), { group_held_overflow: 1, group_gap_released: 1 });
  t.equal((await receive(node, message(alice, 2))).verdict, 'duplicate', 'the seq given up is not taken any more');
});

t.test('held messages make room by bytes too: a flood of large ones that skip seq 1 never makes the group defer', async (t) => {
  const node = carolNode(t, { maxBytesPerGroup: 1024 * 1024 });
  const budget = node.log.limits.maxHeldBytesPerGroup;
  t.equal(budget, 256 * 1024, 'a quarter of the stored bytes');
  const large = 'x'.repeat(20_000);
  for (let seq = 2; seq <= 80; seq += 1) {
    const result = await receive(node, message(alice, seq, { content: large }));
    if (result.verdict !== 'held' && result.verdict !== 'delivered') t.fail(`seq ${seq} was ${result.verdict}`);
    t.ok(node.log.counts(group).heldBytes <= budget, `held bytes within the budget after seq ${seq}`);
    // The reader keeps up: only what is held could fill the group.
    await node.log.ack(group, (await node.log.read(group, 0, 1000)).at(-1)?.cursor ?? 0);
  }
  t.ok((node.order.counters().group_held_overflow ?? 0) > 0, 'room was made by releasing with a gap');
  t.match(await receive(node, message(bob, 1, { prev_epoch: 0 })), { verdict: 'delivered' }, 'another author is taken');
});

t.test('making room drops an unchecked envelope before releasing a checked message with a gap', async (t) => {
  const node = carolNode(t, { maxHeldPerGroup: 3 });
  await receive(node, message(alice, 1));
  await receive(node, message(alice, 3));
  t.match(await receive(node, envelopeBy(bob, e3, { seq: 9, prev_epoch: 3, id: 'b9'.repeat(16) })), { verdict: 'held', waitingFor: 'epoch' });
  await receive(node, message(alice, 5));
  const sixth = await receive(node, message(alice, 6));
  t.match(sixth, { verdict: 'held', waitingFor: 'predecessor', delivered: [] });
  t.equal(node.order.uncheckedCount(group), 0);
  t.same(node.log.held(group).map((kept) => kept.seq), [3, 5, 6], 'the checked messages still wait for seq 2 and 4');
  t.same(node.order.counters(), { group_held_overflow_dropped: 1 });
});

t.test('an author may have only so many unchecked envelopes held; more are refused, not charged', async (t) => {
  const node = carolNode(t);
  for (let seq = 2; seq <= MAX_UNCHECKED_PER_AUTHOR + 1; seq += 1) {
    const result = await receive(node, envelopeBy(alice, e3, { seq, prev_epoch: 3, id: randomBytes(16).toString('hex') }));
    if (result.verdict !== 'held') t.fail(`seq ${seq} was ${result.verdict}`);
  }
  const beyond = await receive(node, envelopeBy(alice, e3, { seq: MAX_UNCHECKED_PER_AUTHOR + 2, prev_epoch: 3, id: randomBytes(16).toString('hex') }));
  t.match(beyond, { verdict: 'refused', refusal: 'unchecked_full', chargeable: false });
  t.equal(node.order.uncheckedCount(group), MAX_UNCHECKED_PER_AUTHOR);
  t.match(await receive(node, envelopeBy(bob, e3, { seq: 2, prev_epoch: 3, id: randomBytes(16).toString('hex') })), { verdict: 'held', waitingFor: 'epoch' }, 'another author has its own share');
  t.same(node.order.counters(), { group_unchecked_full: 1 });
});

t.test('a held message waits the gap hold, then is readable with gap: true (injected clock)', async (t) => {
  const node = carolNode(t);
  await receive(node, message(alice, 1));
  await receive(node, message(alice, 3));
  node.clock.ms += 1000;
  await receive(node, message(alice, 4));
  node.clock.ms = GROUP_TIME + HOLD_MS - 1;
  t.same(await node.order.releaseDue(), [], 'not yet');
  node.clock.ms = GROUP_TIME + HOLD_MS;
  const released = await node.order.releaseDue();
  t.same(released.map((kept) => [kept.seq, kept.gap]), [[3, true], [4, false]], 'the oldest held message had waited long enough: its author goes on');
  t.equal(node.store.get(group)?.lastSeq[alice.peer], 4);
  t.same(node.order.counters(), { group_gap_released: 1 });
  t.equal((await receive(node, message(alice, 2))).verdict, 'duplicate');
});

t.test('an envelope of an epoch not known yet waits for its statement, then is checked and ordered', async (t) => {
  const node = carolNode(t);
  const atThree = envelopeBy(alice, e3, { seq: 1, id: 'a1'.repeat(16) });
  const forged = { ...envelopeBy(alice, e3, { seq: 2, prev_epoch: 3, id: 'a2'.repeat(16) }), content: 'not what Alice signed' };
  t.match(await receive(node, atThree), { verdict: 'held', waitingFor: 'epoch' });
  t.match(await receive(node, forged), { verdict: 'held', waitingFor: 'epoch' }, 'nothing can check it yet');
  t.equal(node.order.uncheckedCount(group), 2);
  t.same(await node.order.epochApplied(group), [], 'no new statement: still waiting');
  t.equal(node.store.recordEpoch(group, e3).outcome, 'applied');
  const released = await node.order.epochApplied(group);
  t.same(released.map((kept) => kept.id), [atThree.id]);
  t.equal(node.order.uncheckedCount(group), 0);
  t.same(node.log.held(group), [], 'the forged one is dropped');
  t.same(node.order.counters(), { group_bad_signature: 1 });
});

t.test('an envelope waiting for its epoch is dropped when the hold time passes without the statement', async (t) => {
  const node = carolNode(t);
  await receive(node, message(alice, 1));
  await node.log.ack(group, 1);
  t.match(await receive(node, envelopeBy(alice, e3, { seq: 1, id: 'a0'.repeat(16) })), { verdict: 'duplicate' }, 'a seq taken in (and acked) already is not held, whatever its epoch');
  await receive(node, envelopeBy(alice, e3, { seq: 2, prev_epoch: 2, id: 'a1'.repeat(16) }));
  node.clock.ms += HOLD_MS;
  t.same(await node.order.releaseDue(), []);
  t.same(node.log.held(group), []);
  t.same(node.order.counters(), { group_duplicate: 1, group_epoch_timeout: 1 });
});

t.test('held messages and last_seq survive a restart; resume finishes what a crash cut short', async (t) => {
  const node = carolNode(t);
  await receive(node, message(alice, 1));
  await receive(node, message(alice, 3));
  // Bob left at epoch 3: an envelope he signs for it waits for that statement, then fails.
  const bobAtThree = envelopeBy(bob, e3, { seq: 2, prev_epoch: 2, id: 'b3'.repeat(16) });
  t.match(await receive(node, bobAtThree), { verdict: 'held', waitingFor: 'epoch' });
  // A crash after a message went readable in the log, before last_seq moved.
  const crashed = message(bob, 1, { id: 'b0'.repeat(16) });
  await node.log.store(crashed, { held: false });
  await node.restart();
  t.same(node.store.get(group)?.lastSeq, { [alice.peer]: 1 }, 'last_seq as written');
  t.same(node.log.held(group).map((kept) => kept.seq), [3, 2]);
  t.equal(node.store.recordEpoch(group, e3).outcome, 'applied');
  t.same(await node.order.resume(), [], 'nothing can go yet');
  t.same(node.store.get(group)?.lastSeq, { [alice.peer]: 1, [bob.peer]: 1 }, 'last_seq caught up with the readable message');
  t.same(node.order.counters(), { group_author_not_member: 1 }, 'the envelope that waited for epoch 3 is checked: Bob is no member of it');
  t.same(node.log.held(group).map((kept) => kept.seq), [3]);
  const two = await receive(node, message(alice, 2));
  t.same(two.delivered.map((kept) => kept.seq), [2, 3], 'the held message survived the restart and follows its predecessor');
  t.match(await receive(node, crashed), { verdict: 'duplicate' }, 'the inbox replay of the crashed message changes nothing');
});

t.test('a replay finds a message kept readable before a crash and moves last_seq on', async (t) => {
  const node = carolNode(t);
  const first = message(alice, 1);
  await node.log.store(first, { held: false });
  await node.restart();
  t.match(await receive(node, first), { verdict: 'duplicate' });
  t.equal(node.store.get(group)?.lastSeq[alice.peer], 1);
  t.equal((await receive(node, message(alice, 2))).verdict, 'delivered', 'the next one is in order');
  t.same(await readable(node), [['alice', 1, false], ['alice', 2, false]]);
});

t.test('a removed member drops envelopes of its removal epoch and after, and still takes earlier ones', async (t) => {
  const node = carolNode(t);
  const e4 = nextStatement(e3, alice, [memberOf(alice)], [{ op: 'remove', peer: carol.peer }]);
  node.store.recordEpoch(group, e3);
  node.store.recordEpoch(group, e4);
  t.equal(node.store.get(group)?.state, 'removed');
  t.match(await receive(node, envelopeBy(alice, e4, { seq: 2, prev_epoch: 3, id: 'a4'.repeat(16) })), { verdict: 'refused', refusal: 'after_removal', chargeable: false });
  t.match(await receive(node, envelopeBy(alice, e4, { epoch: 5, seq: 3, prev_epoch: 4, id: 'a5'.repeat(16) })), { verdict: 'refused', refusal: 'after_removal' }, 'a later epoch is not held for');
  t.equal((await receive(node, envelopeBy(alice, e3, { seq: 1, id: 'a3'.repeat(16) }))).verdict, 'delivered', 'sent before the removal');
});

t.test("a revoked author's envelopes are dropped and counted, held ones included", async (t) => {
  const node = carolNode(t);
  await receive(node, message(bob, 3));
  node.revoked.add(bob.peer);
  t.match(await receive(node, message(bob, 1)), { verdict: 'refused', refusal: 'author_revoked', chargeable: false });
  t.equal(await node.order.dropAuthor(bob.peer), 1);
  t.same(node.log.held(group), []);
  t.same(node.order.counters(), { group_author_revoked: 2 });
});

t.test('a group at its unread limit defers the message: nothing is written, the inbox keeps it', async (t) => {
  const node = carolNode(t, { maxUnreadPerGroup: 1 });
  await receive(node, message(alice, 1));
  const second = message(alice, 2);
  t.match(await receive(node, second), { verdict: 'deferred', message: /P2P_COMM_GROUP_MAX_UNREAD/ });
  t.equal(node.store.get(group)?.lastSeq[alice.peer], 1);
  await node.log.ack(group, 1);
  t.equal((await receive(node, second)).verdict, 'delivered', 'taken once there is room');
});

t.test('who may hand over an envelope: its author, or the creator relaying it; a relay list only from the author to the creator', async (t) => {
  const node = carolNode(t);
  t.match(await node.order.receive({ envelope: message(alice, 1), relay: null }, bob.peer), { verdict: 'refused', refusal: 'bad_sender', chargeable: true });
  t.match(await node.order.receive({ envelope: message(alice, 1), relay: [bob.peer] }, alice.peer), { verdict: 'refused', refusal: 'relay_not_creator', chargeable: true });
  t.match(await node.order.receive({ envelope: message(carol, 1), relay: null }, carol.peer), { verdict: 'refused', refusal: 'own_message' });
  t.match(await node.order.receive({ envelope: envelopeBy(alice, e2, { group: 'grp-' + 'a'.repeat(32) }), relay: null }, alice.peer), { verdict: 'refused', refusal: 'unknown_group', chargeable: false });
  t.equal(node.log.counts(group).unread, 0);
});

t.test('envelopes that waited for their epoch are released in seq order, also after a restart, and their successors with them', async (t) => {
  const node = carolNode(t);
  await receive(node, message(alice, 1));
  await receive(node, envelopeBy(alice, e3, { seq: 3, prev_epoch: 3, id: 'a3'.repeat(16) }));
  await receive(node, envelopeBy(alice, e3, { seq: 2, prev_epoch: 2, id: 'a2'.repeat(16) }));
  await receive(node, envelopeBy(alice, e3, { seq: 4, prev_epoch: 3, id: 'a4'.repeat(16) }));
  t.equal(node.order.uncheckedCount(group), 3);
  await node.restart();
  t.equal(node.store.recordEpoch(group, e3).outcome, 'applied');
  const released = await node.order.resume();
  t.same(released.map((kept) => kept.seq), [2, 3, 4]);
  t.same(released.map((kept) => kept.cursor), [2, 3, 4], 'cursors follow seq, not arrival');
  t.equal(node.store.get(group)?.lastSeq[alice.peer], 4);
});
