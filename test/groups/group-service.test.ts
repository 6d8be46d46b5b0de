import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { CAPABILITIES } from '../../extension/node-parts';
import { headOf } from '../../extension/groups/group-membership';
import { GROUPS_CAPABILITY, MEMBER_REMOVED_REASON } from '../../extension/groups/group-service';
import type { StoredGroup } from '../../extension/groups/group-store';
import { encodeContent } from '../../extension/messaging/payload';
import type { OutgoingMessage } from '../../extension/store/outbox';
import type { GroupStoreLimits } from '../../extension/groups/group-store';
import { signJoinStatement } from '../../extension/wire/group-statement';
import { envelopeBy, groupPerson } from '../helpers/groups';
import { type GroupNode, GroupNodes, pendingOutgoing } from '../helpers/group-nodes';

/** Alice creates; Bob and Carol are each paired with Alice, not with each other. */
async function threeNodes(t: Test, limits: Partial<GroupStoreLimits> = {}) {
  const nodes = new GroupNodes(t, limits);
  const alice = await nodes.add(0x31, 'Alice');
  const bob = await nodes.add(0x32, 'Bob');
  const carol = await nodes.add(0x33, 'Carol');
  nodes.pair(alice, bob);
  nodes.pair(alice, carol);
  return { nodes, alice, bob, carol };
}

function group(node: GroupNode, id: string): StoredGroup {
  const held = node.store.get(id);
  if (held === undefined) throw new Error(`${node.person.name} holds no group ${id}`);
  return held;
}

function members(node: GroupNode, id: string): string[] {
  return headOf(group(node, id)).members.map((member) => member.name);
}

function eventsOf(node: GroupNode, type: string): Record<string, unknown>[] {
  return node.events.filter((event) => event.type === type).map((event) => event.data);
}

/** Alice's group with Bob and Carol in it: epochs 0, 1 (Bob), 2 (Carol). */
async function groupOfThree(t: Test, limits: Partial<GroupStoreLimits> = {}) {
  const three = await threeNodes(t, limits);
  const { nodes, alice, bob, carol } = three;
  const created = await alice.service.create('Project X');
  for (const invitee of [bob, carol]) {
    await alice.service.invite(created.id, invitee.peer);
    await nodes.settled();
    await invitee.service.accept(created.id);
    await nodes.settled();
  }
  return { ...three, id: created.id };
}

/** A group_message copy pending in an outbox, of the group given. */
function pendingCopy(to: string, groupId: string, messageId: string): OutgoingMessage {
  const author = groupPerson(0x31, 'Alice');
  const statement = { group: groupId, epoch: 1 } as Parameters<typeof envelopeBy>[1];
  return pendingOutgoing(messageId, to, 'group_message', encodeContent('group_message', { envelope: envelopeBy(author, statement), relay: null }, 1024 * 1024));
}

t.test('create, invite, accept: each epoch reaches every member, and the new one', async (t) => {
  t.ok(CAPABILITIES.includes(GROUPS_CAPABILITY), 'groups-v1 is announced');
  const { nodes, alice, bob, carol } = await threeNodes(t);
  const created = await alice.service.create('Project X');
  t.match(created, { state: 'member', joinedEpoch: 0, creator: alice.peer, name: 'Project X' });
  t.same(members(alice, created.id), ['Alice']);

  t.same(await alice.service.invite(created.id, bob.peer), { group: created.id, peer: bob.peer, state: 'invited' });
  await nodes.settled();
  t.match(group(bob, created.id), { state: 'invited', joinedEpoch: null });
  t.same(eventsOf(bob, 'p2p.group.invited'), [{ group: created.id, name: 'Project X', creator: alice.peer }]);

  t.same(await bob.service.accept(created.id), { group: created.id, state: 'joining' });
  t.equal(group(bob, created.id).state, 'invited', 'joining: a member only once the epoch arrives');
  await nodes.settled();
  t.match(group(bob, created.id), { state: 'member', joinedEpoch: 1 });
  t.same(members(alice, created.id), ['Alice', 'Bob']);

  await alice.service.invite(created.id, carol.peer);
  await nodes.settled();
  await carol.service.accept(created.id);
  await nodes.settled();
  for (const node of [alice, bob, carol]) {
    t.equal(headOf(group(node, created.id)).epoch, 2, `${node.person.name} is at epoch 2`);
    t.same(members(node, created.id), ['Alice', 'Bob', 'Carol']);
  }
  t.match(group(carol, created.id), { state: 'member', joinedEpoch: 2 });
  t.same(
    eventsOf(bob, 'p2p.group.changed').map((event) => event['epoch']),
    [1, 2],
    'Bob is told of the epoch that adds him and the one that adds Carol',
  );
  t.same(eventsOf(bob, 'p2p.group.changed')[1], { group: created.id, epoch: 2, changes: [{ op: 'add', peer: carol.peer }] });
  t.equal(group(alice, created.id).sentEpoch, 2, 'the creator recorded every epoch as sent');
  t.same(group(alice, created.id).invitesOut, {}, 'both invites are closed');
  t.same(bob.refusals, []);
  t.same(carol.refusals, []);
  t.same(alice.refusals, []);
});

t.test('only the creator invites, only trusted peers that take groups', async (t) => {
  const { nodes, alice, bob, carol } = await threeNodes(t);
  const outsider = await nodes.add(0x34, 'Dave');
  const { id } = await alice.service.create('Project X');
  await t.rejects(alice.service.invite(id, outsider.peer), { errorName: 'NOT_FOUND', message: /not a trusted peer/ });
  alice.withoutGroups.add(carol.peer);
  await t.rejects(alice.service.invite(id, carol.peer), { errorName: 'NOT_AVAILABLE', message: /peer_unsupported.*groups-v1/ });
  await t.rejects(alice.service.invite(id, alice.peer), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  await alice.service.invite(id, bob.peer);
  await nodes.settled();
  await bob.service.accept(id);
  await nodes.settled();
  await t.rejects(alice.service.invite(id, bob.peer), { errorName: 'CONFLICT', message: /member .* already/ });
  await t.rejects(bob.service.invite(id, carol.peer), { errorName: 'CONFLICT', message: /only the creator/ });
  await t.rejects(bob.service.remove(id, alice.peer), { errorName: 'CONFLICT', message: /only the creator/ });
  await t.rejects(carol.service.accept(id), { name: 'P2pError', errorName: 'NOT_FOUND' });
});

t.test('a member leaves: left at once, and the creator’s next epoch carries its signed leave', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  t.same(await carol.service.leave(id), { group: id, state: 'left' });
  t.match(group(carol, id), { state: 'left', reason: 'left' });
  t.same(eventsOf(carol, 'p2p.group.left'), [{ group: id, reason: 'left' }]);
  await nodes.settled();
  for (const node of [alice, bob]) t.same(members(node, id), ['Alice', 'Bob'], `${node.person.name} sees Carol gone`);
  const change = headOf(group(bob, id)).changes[0];
  t.match(change, { op: 'leave', peer: carol.peer, leave: { t: 'leave', peer: carol.peer } }, 'the evidence is Carol’s own signed leave');
  t.equal(group(carol, id).state, 'left', 'Carol stays out');
  t.same(await carol.service.leave(id), { group: id, state: 'left' }, 'leaving twice changes nothing');
  const leaveSent = nodes.sent.filter((copy) => copy.from === carol.peer && copy.type === 'group_control').at(-1);
  if (leaveSent === undefined) throw new Error('Carol sent her leave');
  await alice.inbox.add({
    messageId: randomBytes(16).toString('hex'),
    peerId: carol.peer,
    type: 'group_control',
    correlationId: null,
    content: leaveSent.content,
    digest: new Uint8Array(16),
    proof: new Uint8Array(0),
    sentAt: new Date(),
  });
  await nodes.settled();
  t.match(alice.refusals, [{ from: carol.peer, reason: 'group_leave_not_member', charged: false }], 'the same leave again: counted, not charged');
  t.equal(headOf(group(alice, id)).epoch, 3, 'and no epoch for it');
});

t.test('an invite a peer refuses as malformed (no groups there) is closed', async (t) => {
  const { nodes, alice, carol } = await threeNodes(t);
  const { id } = await alice.service.create('Project X');
  alice.noHello.add(carol.peer);
  nodes.holdBack = (copy) => copy.to === carol.peer;
  await alice.service.invite(id, carol.peer);
  t.same(Object.keys(group(alice, id).invitesOut), [carol.peer], 'sent without a hello to check: the peer decides');
  const [invite] = nodes.held;
  if (invite === undefined) throw new Error('the invite is on its way');
  alice.settle(carol.peer, invite.messageId, 'failed', 'malformed');
  await alice.service.whenIdle();
  t.same(group(alice, id).invitesOut, {}, 'closed: a join for it would not be taken');
});

t.test('an invitee declines: it can no longer accept', async (t) => {
  const { nodes, alice, bob } = await threeNodes(t);
  const { id } = await alice.service.create('Project X');
  await alice.service.invite(id, bob.peer);
  await nodes.settled();
  t.same(await bob.service.leave(id), { group: id, state: 'left' });
  t.same(eventsOf(bob, 'p2p.group.left'), [{ group: id, reason: 'declined' }]);
  await t.rejects(bob.service.accept(id), { name: 'P2pError', errorName: 'CONFLICT' });
});

t.test('the creator removes a member: it knows, and every node fails its pending copies to it', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  const other = await alice.service.create('Other');
  alice.pending.set(bob.peer, [pendingCopy(bob.peer, id, 'a'.repeat(32)), pendingCopy(bob.peer, other.id, 'b'.repeat(32))]);
  carol.pending.set(bob.peer, [pendingCopy(bob.peer, id, 'c'.repeat(32))]);
  t.same(await alice.service.remove(id, bob.peer), { group: id, epoch: 3 });
  await nodes.settled();
  t.match(group(bob, id), { state: 'removed' });
  t.same(eventsOf(bob, 'p2p.group.left'), [{ group: id, reason: 'removed' }]);
  for (const node of [alice, carol]) t.same(members(node, id), ['Alice', 'Carol']);
  t.same(alice.failed, [{ peer: bob.peer, ids: ['a'.repeat(32)], reason: MEMBER_REMOVED_REASON }], 'only the copies of this group fail');
  t.same(carol.failed, [{ peer: bob.peer, ids: ['c'.repeat(32)], reason: MEMBER_REMOVED_REASON }]);
  t.same(bob.failed, [], 'the removed one fails nothing to itself');
  await t.rejects(alice.service.remove(id, bob.peer), { name: 'P2pError', errorName: 'NOT_FOUND' });
  t.same(await bob.service.leave(id), { group: id, state: 'removed' }, 'a removed member has nothing to leave');
});

t.test('the creator’s leave dissolves the group at every member', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  t.same(await alice.service.leave(id), { group: id, state: 'dissolved' });
  await nodes.settled();
  for (const node of [alice, bob, carol]) {
    t.equal(group(node, id).state, 'dissolved', `${node.person.name}: dissolved`);
    t.same(eventsOf(node, 'p2p.group.left'), [{ group: id, reason: 'dissolved' }]);
  }
  await t.rejects(alice.service.invite(id, bob.peer), { errorName: 'CONFLICT', message: /dissolved/ });
});

t.test('epochs that arrive out of order are held until the one before, then applied; the hold survives a restart', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  const dave = await nodes.add(0x34, 'Dave');
  nodes.pair(alice, dave);
  nodes.holdBack = (copy) => copy.to === bob.peer;
  await alice.service.remove(id, carol.peer);
  await alice.service.invite(id, dave.peer);
  await nodes.settled();
  await dave.service.accept(id);
  await nodes.settled();
  t.equal(nodes.held.length, 2, 'epochs 3 and 4 wait on their way to Bob');
  nodes.holdBack = () => false;
  const [epoch3, epoch4] = nodes.held;
  await nodes.release((copy) => copy === epoch4);
  t.equal(headOf(group(bob, id)).epoch, 2, 'epoch 4 alone is not applied');
  t.same(group(bob, id).held.map((statement) => statement.epoch), [4], 'it is held');
  await nodes.restart(bob);
  t.same(group(bob, id).held.map((statement) => statement.epoch), [4], 'held across a restart');
  await nodes.release((copy) => copy === epoch3);
  t.equal(headOf(group(bob, id)).epoch, 4, 'epoch 3 brings epoch 4 along');
  t.same(members(bob, id), ['Alice', 'Bob', 'Dave']);
  t.same(group(bob, id).held, []);
  t.same(
    eventsOf(bob, 'p2p.group.changed').map((event) => event['epoch']),
    [1, 2, 3, 4],
  );
});

t.test('an invitee that accepts after more epochs is answered with the current epoch + 1', async (t) => {
  const { nodes, alice, bob, carol } = await threeNodes(t);
  const { id } = await alice.service.create('Project X');
  await alice.service.invite(id, carol.peer);
  await nodes.settled();
  await alice.service.invite(id, bob.peer);
  await nodes.settled();
  await bob.service.accept(id);
  await nodes.settled();
  t.equal(group(carol, id).invite?.epoch, 0, 'Carol was invited at epoch 0');
  await carol.service.accept(id);
  await nodes.settled();
  t.match(group(carol, id), { state: 'member', joinedEpoch: 2 });
  t.same(
    group(carol, id).statements.map((statement) => statement.epoch),
    [2],
    'it needs that statement alone',
  );
  t.same(members(bob, id), ['Alice', 'Bob', 'Carol']);
});

t.test('limits: members per group, groups per node, open invites per creator, each refusal naming its number and setting', async (t) => {
  const { nodes, alice, bob, carol } = await threeNodes(t, { maxMembers: 2, maxGroups: 2, maxInvitesPerCreator: 1 });
  const { id } = await alice.service.create('Project X');
  await alice.service.invite(id, bob.peer);
  await alice.service.invite(id, carol.peer);
  await nodes.settled();
  await bob.service.accept(id);
  await nodes.settled();
  await t.rejects(alice.service.invite(id, carol.peer), { errorName: 'LIMIT_REACHED', message: /has 2 members.*P2P_COMM_GROUP_MAX_MEMBERS, 2/ });
  await carol.service.accept(id);
  await nodes.settled();
  t.match(alice.refusals, [{ from: carol.peer, reason: 'group_join_refused', charged: false }], 'a join beyond the limit is refused, not charged');
  t.equal(group(carol, id).state, 'invited', 'Carol is not let in');

  const second = await alice.service.create('Second');
  await alice.service.invite(second.id, carol.peer);
  await nodes.settled();
  t.equal(carol.store.get(second.id), undefined, 'a second open invite from Alice is refused');
  t.match(carol.refusals, [{ from: alice.peer, reason: 'group_invite_refused', charged: false }]);
  await t.rejects(alice.service.create('Third'), { errorName: 'LIMIT_REACHED', message: /in 2 groups or invites.*P2P_COMM_MAX_GROUPS, 2/ });
});

t.test('joins: a replayed one, a forged one and one without an invite are refused and charged', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  const bobsJoin = group(alice, id).statements.find((statement) => statement.epoch === 1)?.changes[0];
  if (bobsJoin?.op !== 'add') throw new Error('epoch 1 adds Bob');
  await alice.service.remove(id, bob.peer);
  await nodes.settled();
  const sendJoin = async (from: GroupNode, join: typeof bobsJoin.join) => {
    await alice.inbox.add({
      messageId: randomBytes(16).toString('hex'),
      peerId: from.peer,
      type: 'group_control',
      correlationId: null,
      content: encodeContent('group_control', { kind: 'join', join }, 65_536),
      digest: new Uint8Array(16),
      proof: new Uint8Array(0),
      sentAt: new Date(),
    });
    await nodes.settled();
  };
  await sendJoin(bob, bobsJoin.join);
  t.match(alice.refusals.at(-1), { from: bob.peer, reason: 'group_join_not_invited', charged: true }, 'Bob’s old join does not bring him back');
  t.same(members(alice, id), ['Alice', 'Carol']);

  await alice.service.invite(id, bob.peer);
  await sendJoin(bob, bobsJoin.join);
  t.match(alice.refusals.at(-1), { reason: 'group_join_stale', charged: true }, 'nor after a new invite: it saw an epoch before that invite');
  t.same(members(alice, id), ['Alice', 'Carol']);

  const forged = signJoinStatement({ t: 'join', group: id, peer: bob.peer, epoch_seen: 3, at: 1 }, carol.person.identity);
  await sendJoin(bob, forged);
  t.match(alice.refusals.at(-1), { reason: 'group_join_bad_signature', charged: true }, 'a join Bob did not sign');
  await sendJoin(carol, forged);
  t.match(alice.refusals.at(-1), { reason: 'group_join_other_peer', charged: true }, 'a join for another peer than its sender');
  t.same(members(alice, id), ['Alice', 'Carol']);

});

t.test('a member’s node takes no statement that lists it without its own join or with a key it does not hold', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  const newKey = groupPerson(0x44, 'Bob again').identity.publicKey;
  nodes.rekey(alice, bob.peer, newKey);
  await alice.service.sweep();
  await nodes.settled();
  const head = headOf(group(alice, id));
  t.match(head.changes, [{ op: 'key', peer: bob.peer }], 'the creator issues a key epoch when it learns a member’s new key');
  t.equal(headOf(group(carol, id)).epoch, head.epoch, 'Carol, not paired with Bob, takes the creator’s word');
  t.equal(headOf(group(bob, id)).epoch, head.epoch - 1, 'Bob refuses a statement that lists him with a key he does not hold');
  t.match(bob.refusals, [{ from: alice.peer, reason: 'group_epoch_refused', charged: true }]);

});

t.test('a paired member listed with a key it never presented is refused', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  nodes.pair(bob, carol);
  const stolen = groupPerson(0x47, 'not carol').identity.publicKey;
  nodes.rekey(alice, carol.peer, stolen);
  await alice.service.sweep();
  await nodes.settled();
  t.match(bob.refusals, [{ from: alice.peer, reason: 'group_epoch_member_key', charged: true }], 'Bob pins Carol’s key: the creator cannot swap it');
  t.equal(headOf(group(bob, id)).epoch, 2);
});

t.test('revocations: a revoked creator ends the group here; a revoked member leaves it as it is', async (t) => {
  const { nodes, alice, bob, carol, id } = await groupOfThree(t);
  nodes.revoke(alice, carol.peer);
  await alice.service.sweep();
  t.same(members(alice, id), ['Alice', 'Bob', 'Carol'], 'the creator keeps a revoked member');
  nodes.revoke(bob, alice.peer, 'revoked_by_peer');
  await bob.service.sweep();
  t.match(group(bob, id), { state: 'left', reason: 'creator_revoked' });
  t.same(eventsOf(bob, 'p2p.group.left'), [{ group: id, reason: 'creator_revoked' }]);
  await bob.service.sweep();
  t.equal(eventsOf(bob, 'p2p.group.left').length, 1, 'once');
  t.equal(group(carol, id).state, 'member');
  await alice.service.remove(id, carol.peer);
  await nodes.settled();
  t.match(bob.refusals, [{ from: alice.peer, reason: 'group_sender_not_trusted', charged: false }], 'what the revoked creator still sends is dropped');
  t.notOk(bob.inbox.hasMessagesAfter(alice.peer, 0, 'groups'), 'and acked: nothing wedges the channel');
  t.equal(headOf(group(bob, id)).epoch, 2);
});

t.test('until the message path is given, a group message is refused, counted and acked: never left unseen', async (t) => {
  const { nodes, alice, bob, id } = await groupOfThree(t);
  const envelope = envelopeBy(alice.person, headOf(group(bob, id)));
  await bob.inbox.add({
    messageId: 'e'.repeat(32),
    peerId: alice.peer,
    type: 'group_message',
    correlationId: null,
    content: encodeContent('group_message', { envelope, relay: null }, 1024 * 1024),
    digest: new Uint8Array(16),
    proof: new Uint8Array(0),
    sentAt: new Date(),
  });
  await nodes.settled();
  t.match(bob.refusals, [{ from: alice.peer, reason: 'group_message_unhandled', charged: false }]);
  t.notOk(bob.inbox.hasMessagesAfter(alice.peer, 0, 'groups'), 'acked');
});

t.test('a restart mid-flow: joins waiting in the inbox, and epochs the outbox could not take, go on', async (t) => {
  const { nodes, alice, bob, carol } = await threeNodes(t);
  const { id } = await alice.service.create('Project X');
  await alice.service.invite(id, bob.peer);
  await nodes.settled();
  await nodes.stop(alice);
  await bob.service.accept(id);
  await nodes.restart(alice);
  await nodes.release();
  t.same(members(alice, id), ['Alice', 'Bob'], 'the join that came while the creator was down is taken after its restart');
  t.match(group(bob, id), { state: 'member', joinedEpoch: 1 });

  await alice.service.invite(id, carol.peer);
  await nodes.settled();
  nodes.outboxFullFor.add(bob.peer);
  await carol.service.accept(id);
  await nodes.settled();
  t.equal(group(alice, id).sentEpoch, 1, 'epoch 2 is not recorded as sent: Bob’s copy was not queued');
  t.equal(headOf(group(bob, id)).epoch, 1);
  nodes.outboxFullFor.clear();
  await nodes.restart(alice);
  await alice.service.whenIdle();
  await nodes.settled();
  t.equal(group(alice, id).sentEpoch, 2, 'sent at start');
  t.same(members(bob, id), ['Alice', 'Bob', 'Carol']);
  t.same(members(carol, id), ['Alice', 'Bob', 'Carol']);
  t.match(group(carol, id), { state: 'member' });
});
