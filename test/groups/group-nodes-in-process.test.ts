import t from 'tap';
import { headOf } from '../../extension/groups/group-membership';
import { GROUPS_CAPABILITY } from '../../extension/groups/group-service';
import { connectNodes, type InProcessNode, startInProcessNode } from '../helpers/in-process-node';
import { eventually } from '../helpers/node';

function epochAt(node: InProcessNode, id: string): number | undefined {
  const group = node.groups.store.get(id);
  return group === undefined ? undefined : headOf(group).epoch;
}

function memberNames(node: InProcessNode, id: string): string[] {
  const group = node.groups.store.get(id);
  return group === undefined ? [] : headOf(group).members.map((member) => member.peer);
}

t.test('three nodes over real sessions: create, invite, accept, leave; every epoch reaches every member', async (t) => {
  const alice = await startInProcessNode(t, 'alice');
  const bob = await startInProcessNode(t, 'bob');
  const carol = await startInProcessNode(t, 'carol');
  await connectNodes(t, alice, bob);
  await connectNodes(t, alice, carol);
  const [aliceId, bobId, carolId] = [alice, bob, carol].map((node) => node.identity.peerId) as [string, string, string];
  for (const peer of [bobId, carolId]) {
    await eventually(async () => alice.messenger.helloOf(peer)?.capabilities.includes(GROUPS_CAPABILITY), `the hello of ${peer} to list groups-v1`);
  }

  const { id } = await alice.groups.create('Project X');
  for (const [invitee, inviteeId] of [
    [bob, bobId],
    [carol, carolId],
  ] as const) {
    await alice.groups.invite(id, inviteeId);
    await eventually(async () => invitee.groups.store.get(id)?.state === 'invited', `${inviteeId} to hold the invite`);
    await invitee.groups.accept(id);
    await eventually(async () => invitee.groups.store.get(id)?.state === 'member', `${inviteeId} to be a member`);
  }
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
