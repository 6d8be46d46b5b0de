import t from 'tap';
import { decodeBase64urlExact, encodeBase64url } from '../../extension/common/base64url';
import { verifyEpochStatement } from '../../extension/wire/group-statement';
import { headOf } from '../../extension/groups/group-membership';
import { epochAt, type InProcessNode, startInProcessNode, threeNodes } from '../helpers/in-process-node';
import { eventually } from '../helpers/node';

/** The creator invites, the invitee accepts, through the service; resolves once the invitee is a member. */
async function joinThroughService(creator: InProcessNode, invitee: InProcessNode, id: string): Promise<void> {
  const inviteeId = invitee.identity.peerId;
  await creator.groups.invite(id, inviteeId);
  await eventually(async () => invitee.groups.store.get(id)?.state === 'invited', `${inviteeId} to hold the invite`);
  await invitee.groups.accept(id);
  await eventually(async () => invitee.groups.store.get(id)?.state === 'member', `${inviteeId} to be a member`);
}

function memberNames(node: InProcessNode, id: string): string[] {
  const group = node.groups.store.get(id);
  return group === undefined ? [] : headOf(group).members.map((member) => member.peer);
}

t.test('three nodes over real sessions: create, invite, accept, leave; every epoch reaches every member', async (t) => {
  const { alice, bob, carol, aliceId, bobId, carolId } = await threeNodes(t);

  const { id } = await alice.groups.create('Project X');
  for (const invitee of [bob, carol]) await joinThroughService(alice, invitee, id);
  await eventually(async () => epochAt(bob, id) === 2, 'Bob to take the epoch that adds Carol');
  for (const node of [alice, bob, carol]) t.same(memberNames(node, id), [aliceId, bobId, carolId]);
  t.ok(
    bob.events.seen.some((event) => event.type === 'p2p.group.invited' && event.data['group'] === id),
    'Bob was told of the invite',
  );

  await carol.groups.leave(id);
  t.equal(carol.groups.store.get(id)?.state, 'left');
  await eventually(async () => epochAt(bob, id) === 3, 'Bob to take the epoch of Carol’s leave');
  t.same(memberNames(bob, id), [aliceId, bobId]);
  t.same(memberNames(alice, id), [aliceId, bobId]);
  for (const node of [alice, bob, carol]) await eventually(async () => !node.inbox.hasMessagesAfter(aliceId, 0, 'groups') && !node.inbox.hasMessagesAfter(bobId, 0, 'groups'), 'the groups channel acked');
});

t.test('three nodes over real sessions: messages direct and through the creator, in order, read with cursors', async (t) => {
  // Carol is paired with Alice only: Bob's messages reach her through Alice.
  const { alice, bob, carol, aliceId, bobId, carolId } = await threeNodes(t);
  const { id } = await alice.groups.create('Project X');
  for (const invitee of [bob, carol]) await joinThroughService(alice, invitee, id);
  await eventually(async () => epochAt(bob, id) === 2, 'Bob to take the epoch that adds Carol');

  const fromAlice = await alice.groups.send(id, { type: 'text', content: 'hello from Alice' });
  t.match(fromAlice, { group: id, seq: 1 });
  t.same(
    fromAlice.copies.map((copy) => [copy.peer, copy.via]),
    [
      [bobId, 'direct'],
      [carolId, 'direct'],
    ],
  );
  const first = await bob.groups.send(id, { type: 'text', content: 'one' });
  const second = await bob.groups.send(id, { type: 'json', content: { n: 2 } });
  t.same(
    first.copies.map((copy) => [copy.peer, copy.via]),
    [
      [aliceId, 'direct'],
      [carolId, 'creator'],
    ],
    'Bob reaches Carol through Alice',
  );
  t.equal(first.copies[0]?.message_id, first.copies[1]?.message_id, 'the relayed row names the copy to the creator');
  t.equal(second.seq, 2);
  t.equal(bob.outboxStore.get(first.copies[0]?.message_id as string)?.type, 'group_message', 'the message id is the outbox’s');
  t.same(bob.groups.store.get(id)?.outgoing, [], 'nothing is left outgoing once every copy is queued');

  await eventually(async () => (await carol.groups.receive(id)).messages.length === 3, 'Carol to read all three');
  const read = await carol.groups.receive(id);
  t.same(
    read.messages.map((message) => `${message.author === aliceId ? 'alice' : 'bob'} ${message.seq} ${JSON.stringify(message.content)}`).sort(),
    ['alice 1 "hello from Alice"', 'bob 1 "one"', 'bob 2 {"n":2}'],
  );
  t.same(
    read.messages.map((message) => message.cursor),
    [...read.messages.map((message) => message.cursor)].sort((a, b) => a - b),
    'in cursor order',
  );
  const bobs = read.messages.filter((message) => message.author === bobId);
  t.same(
    bobs.map((message) => message.seq),
    [1, 2],
    'Bob’s messages in his order',
  );
  t.match(bobs[0], { author_name: 'bob', epoch: 2, type: 'text', gap: false, id: first.id });
  t.ok(carol.events.seen.some((event) => event.type === 'p2p.group.message' && event.data['author'] === bobId), 'Carol was told');
  const summary = carol.groups.list().find((entry) => entry.group === id);
  t.match(summary, { name: 'Project X', creator: aliceId, state: 'member', epoch: 2, unread: 3, held: 0 });
  t.same(
    summary?.members.map((member) => [member.peer, member.paired, member.role]),
    [
      [aliceId, true, 'creator'],
      [bobId, false, 'member'],
      [carolId, false, 'member'],
    ],
  );
  t.match(summary?.members[0]?.fingerprint, /\S/);
  t.same(summary?.changes.map((change) => [change.epoch, change.op]), [
    [1, 'add'],
    [2, 'add'],
  ]);

  const acked = await carol.groups.receive(id, { ackThrough: read.next_after });
  t.same(acked, { messages: [], next_after: 0 }, 'acked through the last cursor: nothing left');
  t.equal(carol.groups.list().find((entry) => entry.group === id)?.unread, 0);
  for (const node of [alice, bob, carol]) await eventually(async () => !node.inbox.hasMessagesAfter(aliceId, 0, 'groups') && !node.inbox.hasMessagesAfter(bobId, 0, 'groups'), 'the groups channel acked');
});

t.test('after a key rotation, the group service signs with the new key', async (t) => {
  const alice = await startInProcessNode(t, 'alice');
  const root = encodeBase64url(alice.identity.publicKey);
  alice.identity.prepareRotation().commit();
  const current = encodeBase64url(alice.identity.publicKey);
  t.not(current, root, 'the key changed');
  const created = await alice.groups.create('After the rotation');
  const statement = headOf(created);
  t.equal(statement.members[0]?.key, current, 'the creator is listed with its current key');
  t.equal(verifyEpochStatement(statement, alice.identity.publicKey), null, 'signed with the current key');
  t.not(verifyEpochStatement(statement, decodeBase64urlExact(root, 32) as Uint8Array), null, 'not with the root');
});
