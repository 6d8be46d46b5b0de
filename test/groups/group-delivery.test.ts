import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { MEMBER_REMOVED_REASON } from '../../extension/groups/group-service';
import type { StoredGroup } from '../../extension/groups/group-store';
import { encodeContent } from '../../extension/messaging/payload';
import type { OutgoingMessage } from '../../extension/store/outbox';
import { decodeGroupMessage, type GroupEnvelope, signGroupEnvelope } from '../../extension/wire/group-payload';
import type { GroupMessageLimits } from '../../extension/groups/group-messages';
import { type GroupMessageSettings, type GroupNode, GroupNodes, pendingOutgoing, type SentCopy } from '../helpers/group-nodes';

/** Alice's group with Bob and Carol, each paired with Alice only, and the message path on. */
async function groupOfThree(t: Test, settings: GroupMessageSettings = {}) {
  const nodes = new GroupNodes(t, {}, settings);
  const alice = await nodes.add(0x31, 'Alice');
  const bob = await nodes.add(0x32, 'Bob');
  const carol = await nodes.add(0x33, 'Carol');
  nodes.pair(alice, bob);
  nodes.pair(alice, carol);
  const { id } = await alice.service.create('Project X');
  for (const invitee of [bob, carol]) {
    await alice.service.invite(id, invitee.peer);
    await nodes.settled();
    await invitee.service.accept(id);
    await nodes.settled();
  }
  return { nodes, alice, bob, carol, id };
}

function group(node: GroupNode, id: string): StoredGroup {
  const held = node.store.get(id);
  if (held === undefined) throw new Error(`${node.person.name} holds no group ${id}`);
  return held;
}

/** What a node can read of the group: `author-name seq content`, in cursor order. */
async function readable(node: GroupNode, id: string, nodes: GroupNodes): Promise<string[]> {
  const { messages } = await node.service.receive(id, { limit: 100 });
  const names = new Map([...nodes.nodes.values()].map((other) => [other.peer, other.person.name]));
  return messages.map((message) => `${names.get(message.author)} ${message.seq} ${JSON.stringify(message.content)}`);
}

function envelopeOf(copy: SentCopy): GroupEnvelope {
  return decodeGroupMessage(copy.content).envelope;
}

function groupMessages(nodes: GroupNodes, from: GroupNode, to: GroupNode): SentCopy[] {
  return nodes.sent.filter((copy) => copy.from === from.peer && copy.to === to.peer && copy.type === 'group_message');
}

/** Hands a type-9 payload to `to` as if `from` had sent it. */
async function inject(to: GroupNode, from: GroupNode, content: { envelope: GroupEnvelope; relay: string[] | null }): Promise<void> {
  await to.inbox.add({
    messageId: randomBytes(16).toString('hex'),
    peerId: from.peer,
    type: 'group_message',
    correlationId: null,
    content: encodeContent('group_message', content, 1024 * 1024),
    digest: randomBytes(16),
    proof: new Uint8Array(0),
    sentAt: new Date(),
  });
}

async function idle(nodes: GroupNodes): Promise<void> {
  for (const node of nodes.nodes.values()) if (node.running) await node.service.whenIdle();
}

t.test('Alice and Bob send; Carol, not paired with Bob, gets his messages through Alice, in his order', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  const sent = await alice.service.send(id, { type: 'text', content: 'from Alice' });
  t.same(
    sent.copies.map((copy) => [copy.peer, copy.via]),
    [
      [bob.peer, 'direct'],
      [carol.peer, 'direct'],
    ],
  );
  const one = await bob.service.send(id, { type: 'text', content: 'one' });
  const two = await bob.service.send(id, { type: 'json', content: { two: 2 } });
  t.same([one.seq, two.seq], [1, 2]);
  t.same(
    one.copies.map((copy) => [copy.peer, copy.via, copy.message_id]),
    [
      [alice.peer, 'direct', one.copies[0]?.message_id],
      [carol.peer, 'creator', one.copies[0]?.message_id],
    ],
  );
  await nodes.settled();

  t.same(await readable(carol, id, nodes), ['Alice 1 "from Alice"', 'Bob 1 "one"', 'Bob 2 {"two":2}']);
  t.same(await readable(alice, id, nodes), ['Bob 1 "one"', 'Bob 2 {"two":2}']);
  t.same(await readable(bob, id, nodes), ['Alice 1 "from Alice"']);
  const relayed = groupMessages(nodes, alice, carol).map(envelopeOf).filter((envelope) => envelope.author === bob.peer);
  t.same(
    relayed.map((envelope) => envelope.seq),
    [1, 2],
    'Alice relayed both of Bob’s to Carol',
  );
  t.same(
    groupMessages(nodes, bob, alice).map((copy) => decodeGroupMessage(copy.content).relay),
    [[carol.peer], [carol.peer]],
    'Bob’s copy to Alice names Carol to relay to',
  );
  t.same(
    carol.events.filter((event) => event.type === 'p2p.group.message').map((event) => event.data['author']),
    [alice.peer, bob.peer, bob.peer],
  );
  t.same(group(bob, id).outgoing, [], 'nothing left outgoing');
  for (const node of [alice, bob, carol]) t.same(node.refusals, [], `${node.person.name} refused nothing`);
});

t.test('out of order: a message waits for the one before it, then both are readable in order', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  let first: string | undefined;
  nodes.holdBack = (copy) => copy.type === 'group_message' && copy.from === bob.peer && envelopeOf(copy).seq === 1 && (first ??= copy.messageId) === copy.messageId;
  await bob.service.send(id, { type: 'text', content: 'one' });
  await bob.service.send(id, { type: 'text', content: 'two' });
  await nodes.settled();
  t.same(await readable(alice, id, nodes), [], 'the second waits at Alice');
  t.match(alice.service.list()[0], { group: id, unread: 0, held: 1 });
  t.same(await readable(carol, id, nodes), [], 'and at Carol, to whom Alice relayed it');
  t.equal(nodes.held.length, 1);
  nodes.holdBack = () => false;
  await nodes.release();
  t.same(await readable(alice, id, nodes), ['Bob 1 "one"', 'Bob 2 "two"']);
  t.same(await readable(carol, id, nodes), ['Bob 1 "one"', 'Bob 2 "two"']);
  t.match(carol.service.list()[0], { unread: 2, held: 0 });
  const { messages } = await carol.service.receive(id);
  t.same(
    messages.map((message) => message.gap),
    [false, false],
  );
});

t.test('held past the gap hold: readable with gap, at the sweep', async (t) => {
  let now = Date.now();
  const { nodes, alice, bob, id } = await groupOfThree(t, { gapHoldSeconds: 60, now: () => now });
  nodes.holdBack = (copy) => copy.type === 'group_message' && copy.to === alice.peer && envelopeOf(copy).seq === 1;
  await bob.service.send(id, { type: 'text', content: 'lost' });
  await bob.service.send(id, { type: 'text', content: 'late' });
  await nodes.settled();
  await alice.service.sweep();
  t.same(await readable(alice, id, nodes), [], 'not yet');
  now += 60_000;
  await alice.service.sweep();
  const { messages } = await alice.service.receive(id);
  t.match(messages, [{ seq: 2, gap: true, content: 'late' }]);
  t.equal(alice.events.filter((event) => event.type === 'p2p.group.message').length, 1);
  t.equal(alice.service.messageCounters()['group_gap_released'], 1);
  nodes.holdBack = () => false;
  await nodes.release();
  t.same(await readable(alice, id, nodes), ['Bob 2 "late"'], 'the one that came too late is a duplicate');
});

t.test('a relayed envelope the creator altered is refused at Carol and charged to the creator', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  await bob.service.send(id, { type: 'text', content: 'signed by Bob' });
  await nodes.settled();
  const genuine = envelopeOf(groupMessages(nodes, alice, carol).find((copy) => envelopeOf(copy).author === bob.peer) as SentCopy);
  await inject(carol, alice, { envelope: { ...genuine, seq: 2, id: 'ab'.repeat(16), content: 'altered by Alice' }, relay: null });
  await nodes.settled();
  t.same(carol.refusals, [{ from: alice.peer, reason: 'group_bad_signature', charged: true }]);
  t.same(await readable(carol, id, nodes), ['Bob 1 "signed by Bob"'], 'only the genuine one is readable');
  // The same seq under another id, signed by Bob this time, while the first is kept: seq_reused, charged to whoever handed it over.
  await inject(carol, alice, { envelope: signGroupEnvelope({ ...genuine, id: 'cd'.repeat(16), content: 'again' }, bob.person.identity), relay: null });
  await nodes.settled();
  t.match(carol.refusals.at(-1), { from: alice.peer, reason: 'group_seq_reused', charged: true });
  // A relay list sent to a node that is not the creator.
  await carol.service.send(id, { type: 'text', content: 'from Carol' });
  await nodes.settled();
  const carols = envelopeOf(groupMessages(nodes, carol, alice)[0] as SentCopy);
  await inject(bob, alice, { envelope: carols, relay: [bob.peer] });
  await nodes.settled();
  t.same(bob.refusals, [{ from: alice.peer, reason: 'group_relay_not_creator', charged: true }]);
});

t.test('a removed member gets nothing newer; copies to it still pending fail', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  nodes.holdBack = (copy) => copy.type === 'group_message' && copy.to === carol.peer;
  await alice.service.send(id, { type: 'text', content: 'before' });
  const pending = groupMessages(nodes, alice, carol)[0] as SentCopy;
  alice.pending.set(carol.peer, [outgoingOf(pending)]);
  const removal = await alice.service.remove(id, carol.peer);
  await nodes.settled();
  t.same(alice.failed, [{ peer: carol.peer, ids: [pending.messageId], reason: MEMBER_REMOVED_REASON }], 'the pending copy to Carol failed');
  t.equal(group(carol, id).state, 'removed');
  const after = await bob.service.send(id, { type: 'text', content: 'after' });
  t.same(
    after.copies.map((copy) => [copy.peer, copy.via]),
    [[alice.peer, 'direct']],
    'no copy names Carol',
  );
  await nodes.settled();
  t.same(await readable(alice, id, nodes), ['Bob 1 "after"']);
  t.notOk(
    nodes.sent.some((copy) => copy.type === 'group_message' && copy.to === carol.peer && envelopeOf(copy).author === bob.peer),
    'Alice relayed nothing of Bob’s to Carol',
  );
  // A stale author sends her an envelope of the removal epoch anyway: dropped, not charged.
  const stale = signGroupEnvelope({ ...envelopeOf(groupMessages(nodes, bob, alice)[0] as SentCopy), epoch: removal.epoch }, bob.person.identity);
  await inject(carol, alice, { envelope: stale, relay: null });
  await nodes.settled();
  t.same(carol.refusals, [{ from: alice.peer, reason: 'group_after_removal', charged: false }]);
  await t.rejects(carol.service.send(id, { type: 'text', content: 'x' }), { errorName: 'CONFLICT', message: /removed/ });
});

t.test('a crash after the seq is taken: the copies go again with the same seq and id, and receivers take it once', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  // The outbox for Alice takes nothing: Bob's copy stays outgoing, as if Bob had stopped before queuing it.
  nodes.outboxFullFor.add(alice.peer);
  const sent = await bob.service.send(id, { type: 'text', content: 'survives' });
  t.equal(sent.seq, 1);
  t.match(group(bob, id).outgoing, [{ envelope: { id: sent.id, seq: 1 }, copies: [{ peer: alice.peer, relay: [carol.peer], queued: false }] }]);
  await nodes.stop(bob);
  nodes.outboxFullFor.delete(alice.peer);
  nodes.start(bob);
  await nodes.settled();
  t.same(group(bob, id).outgoing, [], 'sent at start, then cleared');
  const copies = groupMessages(nodes, bob, alice);
  t.equal(copies.length, 1);
  t.equal(copies[0]?.messageId, sent.copies[0]?.message_id, 'under the message id chosen before the crash');
  t.match(envelopeOf(copies[0] as SentCopy), { id: sent.id, seq: 1 });
  // The same envelope comes again (a copy queued twice across a crash): taken once.
  await inject(alice, bob, { envelope: envelopeOf(copies[0] as SentCopy), relay: [carol.peer] });
  await nodes.settled();
  t.same(await readable(alice, id, nodes), ['Bob 1 "survives"']);
  t.same(await readable(carol, id, nodes), ['Bob 1 "survives"']);
  t.equal(alice.service.messageCounters()['group_duplicate'], 1);
  t.same(alice.refusals, []);
  t.equal((await bob.service.send(id, { type: 'text', content: 'next' })).seq, 2, 'no seq used twice');
});

t.test('refusals of a send: not a member, too large (no seq taken)', async (t) => {
  const { nodes, bob, carol, id } = await groupOfThree(t, { maxMessageBytes: 1024 });
  await t.rejects(bob.service.send(id, { type: 'text', content: 'x'.repeat(2000) }), { errorName: 'INVALID_INPUT', message: /P2P_COMM_GROUP_MAX_MESSAGE_BYTES/ });
  t.equal(group(bob, id).mySeq, 0, 'no seq taken');
  await carol.service.leave(id);
  await nodes.settled();
  await t.rejects(carol.service.send(id, { type: 'text', content: 'x' }), { errorName: 'CONFLICT', message: /left/ });
  await t.rejects(bob.service.send('grp-' + 'a'.repeat(32), { type: 'text', content: 'x' }), { errorName: 'NOT_FOUND', message: /no group/ });
  const { id: alone } = await bob.service.create('Bob alone');
  t.match(await bob.service.send(alone, { type: 'text', content: 'to nobody yet' }), { group: alone, seq: 1, copies: [] });
  t.same(group(bob, alone).outgoing, [], 'no copy waits');
  await t.rejects(bob.service.receive(id, { limit: 101 }), { errorName: 'INVALID_INPUT', message: /limit/ });
  await t.rejects(bob.service.receive(id, { waitMs: 30_001 }), { errorName: 'INVALID_INPUT', message: /wait_ms/ });
});

t.test('reading: after, limit, ack_through, a wait answered by a message, cursors kept across a restart', async (t) => {
  const { nodes, alice, bob, id } = await groupOfThree(t);
  for (const content of ['a', 'b', 'c']) await alice.service.send(id, { type: 'text', content });
  await nodes.settled();
  const page = await bob.service.receive(id, { limit: 2 });
  t.same(
    page.messages.map((message) => message.content),
    ['a', 'b'],
  );
  t.equal(page.next_after, page.messages[1]?.cursor);
  t.match(page.messages[0], { author: alice.peer, author_name: 'Alice', seq: 1, type: 'text', gap: false });
  t.match(page.messages[0]?.created_at, /^\d{4}-\d\d-\d\dT/);
  const rest = await bob.service.receive(id, { after: page.next_after });
  t.same(
    rest.messages.map((message) => message.content),
    ['c'],
  );
  await bob.service.receive(id, { ackThrough: page.messages[0]?.cursor as number });
  await nodes.restart(bob);
  const again = await bob.service.receive(id);
  t.same(
    again.messages.map((message) => [message.content, message.cursor]),
    [
      ['b', page.messages[1]?.cursor],
      ['c', rest.messages[0]?.cursor],
    ],
    'after a restart: the same cursors, the acked one gone',
  );
  const waiting = bob.service.receive(id, { after: again.next_after, waitMs: 20_000 });
  await alice.service.send(id, { type: 'text', content: 'd' });
  const woken = await waiting;
  t.same(
    woken.messages.map((message) => message.content),
    ['d'],
    'the wait ends with the message',
  );
});

t.test('past P2P_COMM_GROUP_MAX_UNREAD the sender’s group messages wait in the inbox until a reader acks', async (t) => {
  const limits: Partial<GroupMessageLimits> = { maxUnreadPerGroup: 2 };
  const { nodes, alice, bob, id } = await groupOfThree(t, { limits });
  for (const content of ['a', 'b', 'c']) await alice.service.send(id, { type: 'text', content });
  await idle(nodes);
  t.same(
    (await bob.service.receive(id)).messages.map((message) => message.content),
    ['a', 'b'],
  );
  t.ok(bob.inbox.hasMessagesAfter(alice.peer, 0, 'groups'), 'the third waits, unacked, in the inbox');
  const { next_after } = await bob.service.receive(id);
  await bob.service.receive(id, { ackThrough: next_after });
  // Carol holds her third one back too, unread: only Bob is waited for.
  await bob.service.whenIdle();
  t.same(
    (await bob.service.receive(id)).messages.map((message) => message.content),
    ['c'],
  );
  t.notOk(bob.inbox.hasMessagesAfter(alice.peer, 0, 'groups'));
});

/** A sent copy as the outbox would hold it pending. */
function outgoingOf(copy: SentCopy): OutgoingMessage {
  return pendingOutgoing(copy.messageId, copy.to, copy.type, copy.content);
}

t.test('an envelope of an epoch not yet known waits for its statement, then is readable', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  const dave = await nodes.add(0x34, 'Dave');
  nodes.pair(alice, dave);
  // The epoch that adds Dave is slow to reach Carol.
  nodes.holdBack = (copy) => copy.type === 'group_control' && copy.to === carol.peer;
  await alice.service.invite(id, dave.peer);
  await nodes.settled();
  await dave.service.accept(id);
  await nodes.settled();
  t.equal(group(bob, id).statements.at(-1)?.epoch, 3);
  t.equal(group(carol, id).statements.at(-1)?.epoch, 2);
  const sent = await bob.service.send(id, { type: 'text', content: 'at epoch 3' });
  t.same(
    sent.copies.map((copy) => [copy.peer, copy.via]),
    [
      [alice.peer, 'direct'],
      [carol.peer, 'creator'],
      [dave.peer, 'creator'],
    ],
  );
  await nodes.settled();
  t.same(await readable(dave, id, nodes), ['Bob 1 "at epoch 3"']);
  t.same(await readable(carol, id, nodes), [], 'Carol cannot check it yet');
  t.match(carol.service.list()[0], { epoch: 2, held: 1, unread: 0 });
  nodes.holdBack = () => false;
  await nodes.release();
  await idle(nodes);
  t.same(await readable(carol, id, nodes), ['Bob 1 "at epoch 3"'], 'readable once the epoch is applied');
  t.match(carol.service.list()[0], { epoch: 3, held: 0, unread: 1 });
  t.same(carol.refusals, []);
});

t.test('a copy waiting for room goes at the next sweep; one to a peer revoked meanwhile is given up', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  nodes.outboxFullFor.add(bob.peer);
  nodes.outboxFullFor.add(carol.peer);
  const sent = await alice.service.send(id, { type: 'text', content: 'waits' });
  t.same(
    sent.copies.map((copy) => copy.peer),
    [bob.peer, carol.peer],
    'the result names every copy, queued or waiting',
  );
  t.equal(group(alice, id).outgoing[0]?.copies.filter((copy) => !copy.queued).length, 2);
  nodes.outboxFullFor.clear();
  nodes.revoke(alice, carol.peer);
  await alice.service.sweep();
  await nodes.settled();
  t.same(group(alice, id).outgoing, [], 'nothing left outgoing');
  t.same(await readable(bob, id, nodes), ['Alice 1 "waits"']);
  t.same(groupMessages(nodes, alice, carol), [], 'nothing went to the revoked peer');
  await t.rejects(alice.service.send(id, { type: 'text', content: 'x', ttlSeconds: 0 }), { errorName: 'INVALID_INPUT', message: /ttl_seconds/ });
  t.equal(group(alice, id).mySeq, 1, 'a refused send takes no seq');
});

t.test('a revoked author: its held messages go at the sweep, and what it sends later is dropped', async (t) => {
  const { nodes, alice, bob, id } = await groupOfThree(t);
  nodes.holdBack = (copy) => copy.type === 'group_message' && envelopeOf(copy).seq === 1;
  await bob.service.send(id, { type: 'text', content: 'one' });
  await bob.service.send(id, { type: 'text', content: 'two' });
  await nodes.settled();
  t.match(alice.service.list()[0], { held: 1 });
  nodes.revoke(alice, bob.peer, 'revoked');
  await alice.service.sweep();
  t.match(alice.service.list()[0], { held: 0, unread: 0 });
  t.equal(alice.service.messageCounters()['group_author_revoked'], 1);
});
