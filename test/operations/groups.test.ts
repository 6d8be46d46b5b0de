import t, { type Test } from 'tap';
import { manifest } from '../../extension/common/manifest';
import type { NodeContext } from '../../extension/operations/context';
import type { GroupReceiveInput, GroupReceivedMessage, GroupSendInput, GroupSendResult } from '../../extension/groups/group-delivery';
import type { GroupService, GroupSummary } from '../../extension/groups/group-service';
import { OperationRegistry } from '../../extension/operations/registry';
import { GROUP_ID_PATTERN } from '../../extension/wire/group-statement';
import { epochAt, type InProcessNode, threeNodes } from '../helpers/in-process-node';
import { eventually } from '../helpers/node';

const registry = new OperationRegistry(manifest.operations);

/** Runs an operation as the extension's dispatcher does: schema first, then the handler. */
async function call(node: unknown, operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const outcome = await registry.run(operation, input, node as NodeContext);
  return outcome.data as Record<string, unknown>;
}

const GROUP = `grp-${'a'.repeat(32)}`;
const PEER = `${'b'.repeat(51)}q`;

/** The message path of the group service, recording what each call was given. */
class FakeMessaging implements Pick<GroupService, 'send' | 'receive' | 'list'> {
  readonly sent: [string, unknown][] = [];
  readonly received: [string, unknown][] = [];
  readonly listed: GroupSummary[] = [
    {
      group: GROUP,
      name: 'Project X',
      creator: PEER,
      state: 'member',
      epoch: 2,
      members: [{ peer: PEER, name: 'Alice', fingerprint: 'aa:bb', paired: true, role: 'creator' }],
      unread: 3,
      held: 1,
      changes: [{ epoch: 2, op: 'add', peer: PEER, at: '2026-11-30T09:00:00.000Z' }],
    },
  ];

  async send(groupId: string, message: GroupSendInput): Promise<GroupSendResult> {
    this.sent.push([groupId, message]);
    return { group: groupId, id: 'c'.repeat(32), seq: 7, copies: [{ peer: PEER, message_id: 'd'.repeat(32), via: 'direct' }] };
  }

  async receive(groupId: string, options: GroupReceiveInput = {}): Promise<{ messages: GroupReceivedMessage[]; next_after: number }> {
    this.received.push([groupId, options]);
    const message = { cursor: 12, id: 'e'.repeat(32), author: PEER, author_name: 'Alice', seq: 1, epoch: 2, type: 'text' as const, content: 'hi', created_at: '2026-11-30T10:00:00.000Z', received_at: '2026-11-30T10:00:01.000Z', gap: false };
    return { messages: [message], next_after: 12 };
  }

  list(): GroupSummary[] {
    return this.listed;
  }
}

t.test('the group id pattern is the one manifest.json gives every group field, and the scope of every scoped group operation', async (t) => {
  const groupOperations = manifest.operations.filter((operation) => operation.name.startsWith('group'));
  t.equal(groupOperations.length, 8);
  const fields = groupOperations.flatMap((operation) => {
    const properties = (operation.input_schema['properties'] ?? {}) as Record<string, { pattern?: string }>;
    return properties['group'] === undefined ? [] : [properties['group']];
  });
  t.equal(fields.length, 6, 'every operation but group_create and groups names its group');
  for (const field of fields) t.equal(field.pattern, GROUP_ID_PATTERN.source);
  for (const operation of groupOperations) {
    const namesGroup = 'group' in (operation.input_schema['properties'] as object);
    t.equal(operation.scope_key, namesGroup ? 'group' : undefined, `${operation.name}: scoped by the group it names`);
  }
});

t.test('every input the schema refuses is refused naming its field, before the service is asked', async (t) => {
  const fake = new FakeMessaging();
  const node = { groups: fake };
  const refusals: [string, Record<string, unknown>, RegExp][] = [
    ['group_create', {}, /missing the required field "name"/],
    ['group_create', { name: '' }, /input\.name must NOT have fewer than 1 characters/],
    ['group_create', { name: 'x'.repeat(65) }, /input\.name must NOT have more than 64 characters/],
    ['group_create', { name: 'Project\u202EX' }, /input\.name is not in the expected format/],
    ['group_create', { name: 'Project X', creator: PEER }, /unexpected field "creator"/],
    ['group_invite', { group: GROUP }, /missing the required field "peer"/],
    ['group_invite', { group: 'grp-short', peer: PEER }, /input\.group must NOT have fewer than 36 characters/],
    ['group_invite', { group: `grp-${'A'.repeat(32)}`, peer: PEER }, /input\.group is not in the expected format/],
    ['group_invite', { group: GROUP, peer: 'b'.repeat(52) }, /input\.peer is not in the expected format/],
    ['group_accept', {}, /missing the required field "group"/],
    ['group_accept', { group: PEER.slice(0, 36) }, /input\.group is not in the expected format/],
    ['group_leave', { group: 7 }, /input\.group must be string/],
    ['group_remove', { group: GROUP }, /missing the required field "peer"/],
    ['group_remove', { group: GROUP, peer: PEER, reason: 'spam' }, /unexpected field "reason"/],
    ['groups', { group: GROUP }, /unexpected field "group"/],
    ['group_send', { group: GROUP, content: 'hi' }, /missing the required field "type"/],
    ['group_send', { group: GROUP, type: 'text' }, /missing the required field "content"/],
    ['group_send', { group: GROUP, type: 'binary', content: 'hi' }, /input\.type must be one of "text", "json"/],
    ['group_send', { group: GROUP, type: 'text', content: 5 }, /input\.content must be string/],
    ['group_send', { group: GROUP, type: 'text', content: 'x'.repeat(262_145) }, /input\.content must NOT have more than 262144 characters/],
    ['group_send', { group: GROUP, type: 'text', content: 'hi', ttl_seconds: 0 }, /input\.ttl_seconds must be >= 1/],
    ['group_send', { group: GROUP, type: 'text', content: 'hi', ttl_seconds: 604_801 }, /input\.ttl_seconds must be <= 604800/],
    ['group_send', { group: GROUP, type: 'json', content: { text: '\uD800' } }, /input\.content\.text/],
    ['group_receive', { group: GROUP, limit: 0 }, /input\.limit must be >= 1/],
    ['group_receive', { group: GROUP, limit: 101 }, /input\.limit must be <= 100/],
    ['group_receive', { group: GROUP, wait_ms: 2001 }, /input\.wait_ms must be <= 2000/],
    ['group_receive', { group: GROUP, after: -1 }, /input\.after must be >= 0/],
    ['group_receive', { group: GROUP, ack_through: 1.5 }, /input\.ack_through must be integer/],
  ];
  for (const [operation, input, message] of refusals) {
    await t.rejects(call(node, operation, input), { errorName: 'INVALID_INPUT', message }, `${operation} ${JSON.stringify(input).slice(0, 80)}`);
  }
  t.same(fake.sent, [], 'no refused call reached the service');
  t.same(fake.received, []);
});

t.test('group_send, group_receive and groups hand the service what the call gave and answer what it returns', async (t) => {
  const fake = new FakeMessaging();
  const node = { groups: fake };
  t.same(await call(node, 'group_send', { group: GROUP, type: 'text', content: 'hello' }), {
    group: GROUP,
    id: 'c'.repeat(32),
    seq: 7,
    copies: [{ peer: PEER, message_id: 'd'.repeat(32), via: 'direct' }],
  });
  await call(node, 'group_send', { group: GROUP, type: 'json', content: { n: [1, 2] }, ttl_seconds: 600 });
  t.same(fake.sent, [
    [GROUP, { type: 'text', content: 'hello' }],
    [GROUP, { type: 'json', content: { n: [1, 2] }, ttlSeconds: 600 }],
  ]);

  const read = await call(node, 'group_receive', { group: GROUP });
  t.match(read, { messages: [{ cursor: 12, author: PEER, author_name: 'Alice', content: 'hi', gap: false }], next_after: 12 });
  await call(node, 'group_receive', { group: GROUP, after: 12, limit: 5, wait_ms: 1500, ack_through: 12 });
  t.same(fake.received, [
    [GROUP, {}],
    [GROUP, { after: 12, limit: 5, waitMs: 1500, ackThrough: 12 }],
  ], 'only what the call gave: the service applies its defaults to the rest');

  t.same(await call(node, 'groups', {}), { groups: fake.listed });
});

async function inviteAndAccept(t: Test, creator: InProcessNode, invitee: InProcessNode, group: string): Promise<void> {
  const inviteeId = invitee.identity.peerId;
  t.same(await call(creator, 'group_invite', { group, peer: inviteeId }), { group, peer: inviteeId, state: 'invited' });
  await eventually(async () => invitee.groups.store.get(group)?.state === 'invited', `${inviteeId} to hold the invite`);
  t.same(await call(invitee, 'group_accept', { group }), { group, state: 'joining' });
  await eventually(async () => invitee.groups.store.get(group)?.state === 'member', `${inviteeId} to be a member`);
}

t.test('membership through the operations on three nodes: create, invite, accept, creator-only refusals, remove, leave', async (t) => {
  const { alice, bob, carol, aliceId, bobId, carolId } = await threeNodes(t);

  const created = await call(alice, 'group_create', { name: 'Project X' });
  const group = created['group'] as string;
  t.match(group, GROUP_ID_PATTERN);
  t.same(created, { group, name: 'Project X', epoch: 0, members: [{ peer: aliceId, name: alice.profile.displayName, fingerprint: alice.identity.fingerprint, role: 'creator' }] });
  await t.rejects(call(alice, 'group_create', { name: '   ' }), { errorName: 'INVALID_INPUT', message: /input\.name holds only whitespace/ });

  await inviteAndAccept(t, alice, bob, group);
  t.match(bob.events.seen.find((event) => event.type === 'p2p.group.invited')?.data, { group, name: 'Project X', creator: aliceId });
  await inviteAndAccept(t, alice, carol, group);
  await eventually(async () => epochAt(bob, group) === 2, 'Bob to take the epoch that adds Carol');

  // Only the creator changes the members, even of a group the caller belongs to.
  await t.rejects(call(bob, 'group_invite', { group, peer: aliceId }), { errorName: 'CONFLICT', message: /only the creator/ });
  await t.rejects(call(bob, 'group_remove', { group, peer: carolId }), { errorName: 'CONFLICT', message: /only the creator/ });
  // And nobody acts on a group it does not hold.
  await t.rejects(call(bob, 'group_leave', { group: GROUP }), { errorName: 'NOT_FOUND', message: /holds no group/ });
  await t.rejects(call(bob, 'group_accept', { group }), { errorName: 'CONFLICT', message: /holds no invite/ });
  await t.rejects(call(alice, 'group_invite', { group, peer: bobId }), { errorName: 'CONFLICT', message: /member of .* already/ });
  await t.rejects(call(alice, 'group_invite', { group, peer: `${'c'.repeat(51)}a` }), { errorName: 'NOT_FOUND', message: /not a trusted peer/ });
  await t.rejects(call(alice, 'group_remove', { group, peer: aliceId }), { errorName: 'INVALID_INPUT', message: /group_leave, which dissolves it/ });

  t.same(await call(alice, 'group_remove', { group, peer: carolId }), { group, epoch: 3 });
  await eventually(async () => carol.groups.store.get(group)?.state === 'removed', 'Carol to learn she was removed');
  await eventually(async () => epochAt(bob, group) === 3, 'Bob to take the removal');
  t.match(carol.events.seen.find((event) => event.type === 'p2p.group.left')?.data, { group, reason: 'removed' });
  t.match(bob.events.seen.find((event) => event.type === 'p2p.group.changed' && event.data['epoch'] === 3)?.data, { group, changes: [{ op: 'remove', peer: carolId }] });

  t.same(await call(bob, 'group_leave', { group }), { group, state: 'left' });
  t.same(await call(bob, 'group_leave', { group }), { group, state: 'left' }, 'leaving again changes nothing');
  await eventually(async () => epochAt(alice, group) === 4, 'Alice to issue the epoch of Bob’s leave');
  t.same(await call(alice, 'group_leave', { group }), { group, state: 'dissolved' }, "the creator's leave dissolves the group");
});

t.test('declining an invite with group_leave', async (t) => {
  const { alice, bob, bobId } = await threeNodes(t);
  const { group } = (await call(alice, 'group_create', { name: 'Lunch' })) as { group: string };
  await call(alice, 'group_invite', { group, peer: bobId });
  await eventually(async () => bob.groups.store.get(group)?.state === 'invited', 'Bob to hold the invite');
  t.same(await call(bob, 'group_leave', { group }), { group, state: 'left' });
  t.match(bob.events.seen.find((event) => event.type === 'p2p.group.left')?.data, { group, reason: 'declined' });
});

t.test('an invite to a peer whose p2p-comm has no groups is refused peer_unsupported, nothing recorded', async (t) => {
  const { alice, bobId } = await threeNodes(t);
  const { group } = (await call(alice, 'group_create', { name: 'Old friends' })) as { group: string };
  const oldHello = { ...alice.messenger, helloOf: () => ({ capabilities: ['messaging-v1'] }) };
  await t.rejects(call({ ...alice, messenger: oldHello }, 'group_invite', { group, peer: bobId }), { errorName: 'PEER_UNSUPPORTED', message: /lacks groups-v1/ });
  t.same(alice.groups.store.get(group)?.invitesOut, {}, 'no invite opened');
});
