import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ErrorCode } from '../../extension/common/errors';
import { PluginClient } from '../../permissions/demo/plugin-client';
import type { PluginDeclaration } from '../../permissions/gate/types';
import { startNode as startHost } from '../../permissions/node/running-node';
import { BINARY, tempDir } from '../helpers/extension';
import { approveAll } from '../helpers/mcp-clients';
import { eventually, LOOPBACK_ENV, pairNodes, startNode, type TestNode } from '../helpers/node';
import type { Teardown } from '../helpers/teardown';

/**
 * A group of three through the built extension, as plugins drive it.
 * Alice is paired with Bob and with Carol; Bob and Carol are not paired
 * with each other, so whatever one of them says to the group reaches the
 * other through Alice, the creator, signed by its author. Carol is stopped
 * while Alice and Bob talk, and finds every message when she comes back,
 * each author's in the order it wrote them. Then Alice removes Carol while
 * she is away again (what waited for her is given up, and she gets nothing
 * said after), and Bob leaves (Alice sees the change). And a kill
 * -9 of Alice while Bob's message to Carol waits with her: Carol still
 * gets it, once. And what the reference host shows the invitee: the
 * invitation line, and the group_accept dialog naming every member and
 * saying whose messages come through the creator.
 */

const ONE_UNREAD = { P2P_COMM_GROUP_MAX_UNREAD: '1' };

interface ListedMember {
  peer: string;
  name: string;
  fingerprint: string;
  paired: boolean;
  role: string;
}

interface ListedGroup {
  group: string;
  name: string;
  creator: string;
  state: string;
  epoch: number;
  members: ListedMember[];
  unread: number;
}

interface GroupMessage {
  cursor: number;
  id: string;
  author: string;
  author_name: string | null;
  seq: number;
  epoch: number;
  type: string;
  content: unknown;
  gap: boolean;
}

interface Copy {
  peer: string;
  message_id: string;
  via: 'direct' | 'creator';
}

interface Sent {
  group: string;
  id: string;
  seq: number;
  copies: Copy[];
}

interface Member {
  node: TestNode;
  id: string;
  name: string;
  fingerprint: string;
}

async function listed(node: TestNode, group: string): Promise<ListedGroup | undefined> {
  return ((await node.call('groups'))['groups'] as ListedGroup[]).find((entry) => entry.group === group);
}

/** An event the node published, waited for: each check is a call to the node, which is how its queued events reach the host. */
async function waitForEvent(node: TestNode, type: string, matches: (data: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
  return eventually(async () => {
    await node.call('status');
    return node.events.find((event) => event.type === type && matches(event.data))?.data;
  }, what, 20_000);
}

/** Every readable message of the group at the node, oldest first, page by page. */
async function readAll(node: TestNode, group: string): Promise<GroupMessage[]> {
  const messages: GroupMessage[] = [];
  for (let after = 0; ; ) {
    const page = await node.call('group_receive', { group, after, limit: 100 });
    messages.push(...(page['messages'] as GroupMessage[]));
    if ((page['messages'] as GroupMessage[]).length < 100) return messages;
    after = page['next_after'] as number;
  }
}

async function readUntil(node: TestNode, group: string, holds: (messages: GroupMessage[]) => boolean, what: string): Promise<GroupMessage[]> {
  return eventually(async () => {
    const messages = await readAll(node, group);
    return holds(messages) ? messages : undefined;
  }, what, 20_000);
}

const contents = (messages: GroupMessage[], author: string): unknown[] => messages.filter((message) => message.author === author).map((message) => message.content);

async function send(member: Member, group: string, content: string): Promise<Sent> {
  return (await member.node.call('group_send', { group, type: 'text', content })) as unknown as Sent;
}

async function delivered(node: TestNode, messageId: string): Promise<void> {
  await eventually(async () => (await node.call('message_status', { message_id: messageId }))['state'] === 'delivered', `delivery of ${messageId}`, 20_000);
}

async function member(t: Teardown, name: string, env: Record<string, string> = {}): Promise<Member> {
  const node = await startNode(t, { env });
  await node.call('set_display_name', { display_name: name });
  const identity = await node.call('identity');
  return { node, id: identity['peer_id'] as string, name, fingerprint: identity['fingerprint'] as string };
}

async function restarted(t: Teardown, gone: Member, env: Record<string, string> = {}): Promise<Member> {
  return { ...gone, node: await startNode(t, { dataDir: gone.node.dataDir, env }) };
}

/**
 * Alice, Bob and Carol; Alice paired with both, Bob and Carol strangers.
 * Alice creates the group and invites both, each accepts the invite it
 * was told of, and all three come to the same epoch listing all three.
 */
async function threeInAGroup(t: Test, env: { alice?: Record<string, string> } = {}): Promise<{ alice: Member; bob: Member; carol: Member; group: string }> {
  const [alice, bob, carol] = await Promise.all([member(t, 'Alice', env.alice), member(t, 'Bob'), member(t, 'Carol')]);
  await pairNodes(alice.node, bob.node);
  await pairNodes(alice.node, carol.node);

  const created = await alice.node.call('group_create', { name: 'Project X' });
  t.match(created, { group: /^grp-[a-z2-7]{32}$/, name: 'Project X', epoch: 0, members: [{ peer: alice.id }] });
  const group = created['group'] as string;

  for (const invitee of [bob, carol]) {
    t.match(await alice.node.call('group_invite', { group, peer: invitee.id }), { group, peer: invitee.id, state: 'invited' });
  }
  for (const invitee of [bob, carol]) {
    const invited = await waitForEvent(invitee.node, 'p2p.group.invited', (data) => data['group'] === group, `${invitee.name} told of the invite`);
    t.same(invited, { group, name: 'Project X', creator: alice.id }, `${invitee.name} is invited by Alice`);
    t.match(await listed(invitee.node, group), { state: 'invited', creator: alice.id });
    t.same(await invitee.node.call('group_accept', { group }), { group, state: 'joining' });
  }

  for (const node of [alice, bob, carol]) {
    await eventually(async () => {
      const entry = await listed(node.node, group);
      return entry?.state === 'member' && entry.epoch === 2 && entry.members.length === 3;
    }, `${node.name} at epoch 2 with three members`, 20_000);
  }
  return { alice, bob, carol, group };
}

/** The member list one node shows: name, key fingerprint, whether it is paired with that member, role. */
function memberRows(entry: ListedGroup | undefined): Record<string, Omit<ListedMember, 'peer'>> {
  return Object.fromEntries((entry?.members ?? []).map(({ peer, ...rest }) => [peer, rest]));
}

t.test('three members, one offline: every message reaches it when it is back, in order per author, the unpaired author’s through the creator; removal and leaving', async (t) => {
  const { alice, bob, carol: carolFirst, group } = await threeInAGroup(t);
  let carol = carolFirst;

  const row = (who: Member, paired: boolean) => ({ name: who.name, fingerprint: who.fingerprint, paired, role: who === alice ? 'creator' : 'member' });
  t.same(memberRows(await listed(alice.node, group)), { [alice.id]: row(alice, false), [bob.id]: row(bob, true), [carol.id]: row(carol, true) }, 'Alice is paired with both');
  t.same(memberRows(await listed(bob.node, group)), { [alice.id]: row(alice, true), [bob.id]: row(bob, false), [carol.id]: row(carol, false) }, 'Bob is paired with Alice only');
  t.same(memberRows(await listed(carol.node, group)), { [alice.id]: row(alice, true), [bob.id]: row(bob, false), [carol.id]: row(carol, false) }, 'Carol is paired with Alice only');
  t.notOk(((await carol.node.call('peers'))['peers'] as { peer: string }[]).some((peer) => peer.peer === bob.id), 'Carol does not even know Bob as a peer');

  await carol.node.extension.shutdown();

  // Interleaved, as a conversation goes: each author's seq counts its own messages.
  const fromAlice: Sent[] = [];
  const fromBob: Sent[] = [];
  for (let round = 1; round <= 3; round += 1) {
    fromAlice.push(await send(alice, group, `alice ${round}`));
    fromBob.push(await send(bob, group, `bob ${round}`));
  }
  t.same(fromAlice.map((sent) => sent.seq), [1, 2, 3]);
  t.same(fromBob.map((sent) => sent.seq), [1, 2, 3]);
  for (const sent of fromAlice) {
    t.same(sent.copies.map(({ peer, via }) => ({ peer, via })).sort((x, y) => x.peer.localeCompare(y.peer)), [{ peer: bob.id, via: 'direct' }, { peer: carol.id, via: 'direct' }].sort((x, y) => x.peer.localeCompare(y.peer)), 'the creator sends each member its own copy');
  }
  for (const sent of fromBob) {
    const toAlice = sent.copies.find((copy) => copy.peer === alice.id);
    const toCarol = sent.copies.find((copy) => copy.peer === carol.id);
    t.equal(sent.copies.length, 2);
    t.equal(toAlice?.via, 'direct');
    t.equal(toCarol?.via, 'creator', 'Bob reaches Carol through Alice');
    t.equal(toCarol?.message_id, toAlice?.message_id, 'in the one copy Alice takes and relays');
  }

  const atBob = await readUntil(bob.node, group, (messages) => contents(messages, alice.id).length === 3, 'Alice’s messages at Bob');
  t.same(contents(atBob, alice.id), ['alice 1', 'alice 2', 'alice 3']);
  const atAlice = await readUntil(alice.node, group, (messages) => contents(messages, bob.id).length === 3, 'Bob’s messages at Alice');
  t.same(contents(atAlice, bob.id), ['bob 1', 'bob 2', 'bob 3']);

  carol = await restarted(t, carol);
  const atCarol = await readUntil(carol.node, group, (messages) => messages.length >= 6, 'all six messages at Carol');
  t.equal(atCarol.length, 6, 'each message once');
  for (const [author, sent, prefix] of [
    [alice, fromAlice, 'alice'],
    [bob, fromBob, 'bob'],
  ] as const) {
    const mine = atCarol.filter((message) => message.author === author.id);
    t.same(
      mine.map(({ id, seq, content, author_name, type, gap, epoch }) => ({ id, seq, content, author_name, type, gap, epoch })),
      sent.map((message, index) => ({ id: message.id, seq: message.seq, content: `${prefix} ${index + 1}`, author_name: author.name, type: 'text', gap: false, epoch: 2 })),
      `${author.name}’s messages at Carol: the ids it signed, in its order, none missing`,
    );
  }
  t.ok(atCarol.every((message, index) => index === 0 || message.cursor > (atCarol[index - 1] as GroupMessage).cursor), 'read in cursor order');
  const refused = ((await carol.node.call('status'))['refusals'] as { network: Record<string, number> }).network;
  t.same(Object.keys(refused).filter((reason) => reason.startsWith('group_')), [], 'Carol refused nothing: every signature held, Bob’s relayed by Alice too');

  // Carol away again, Alice and Bob say one more thing each, which waits for her with Alice; then Alice removes her.
  await carol.node.extension.shutdown();
  const aliceWaiting = await send(alice, group, 'alice, while Carol is away again');
  await send(bob, group, 'bob, while Carol is away again');
  // Taken at Alice: her relayed copy for Carol is in her outbox by then.
  await readUntil(alice.node, group, (messages) => contents(messages, bob.id).includes('bob, while Carol is away again'), 'Bob’s message at Alice');
  const removed = await alice.node.call('group_remove', { group, peer: carol.id });
  t.same(removed, { group, epoch: 3 });
  const waitingCopy = aliceWaiting.copies.find((copy) => copy.peer === carol.id) as Copy;
  const failed = await eventually(async () => {
    const copy = await alice.node.call('message_status', { message_id: waitingCopy.message_id });
    return copy['state'] === 'failed' ? copy : undefined;
  }, 'the copy waiting for Carol failed');
  t.match(failed, { state: 'failed', reason: 'group_member_removed' }, 'the removal gives up what waited for Carol');

  // Back, Carol learns of the removal, and gets neither what waited for her nor what is said after.
  carol = await restarted(t, carol);
  t.match(await waitForEvent(carol.node, 'p2p.group.left', (data) => data['group'] === group, 'Carol told of her removal'), { group, reason: 'removed' });
  t.match(await listed(carol.node, group), { state: 'removed' });
  await eventually(async () => (await listed(bob.node, group))?.epoch === 3, 'Bob at epoch 3');
  t.same((await listed(bob.node, group))?.members.map((entry) => entry.peer).sort(), [alice.id, bob.id].sort(), 'Bob sees Carol gone');

  const aliceAfter = await send(alice, group, 'alice after the removal');
  const bobAfter = await send(bob, group, 'bob after the removal');
  t.same(aliceAfter.copies.map((copy) => copy.peer), [bob.id], 'Alice sends Carol no copy');
  t.same(bobAfter.copies.map(({ peer, via }) => ({ peer, via })), [{ peer: alice.id, via: 'direct' }], 'Bob asks Alice to relay to nobody');
  await readUntil(bob.node, group, (messages) => contents(messages, alice.id).includes('alice after the removal'), 'Alice’s last message at Bob');
  await readUntil(alice.node, group, (messages) => contents(messages, bob.id).includes('bob after the removal'), 'Bob’s last message at Alice');
  // An invite to another group, after both: with nothing deferred, Carol stores Alice's messages in the order Alice
  // sent them (protocol.md §12) and takes them in that order, so once she is told of it she has taken whatever Alice
  // sent her before, a relayed copy of Bob's included.
  const other = (await alice.node.call('group_create', { name: 'Another group' }))['group'] as string;
  await alice.node.call('group_invite', { group: other, peer: carol.id });
  await waitForEvent(carol.node, 'p2p.group.invited', (data) => data['group'] === other, 'Carol told of the invite to another group');
  t.same(await readAll(carol.node, group), atCarol, 'Carol has nothing sent after she was last there');

  const carolSends = await carol.node.attempt('group_send', { group, type: 'text', content: 'still here?' });
  t.equal(carolSends.error?.code, ErrorCode.CONFLICT, 'a removed member cannot send');
  t.match(carolSends.error?.message, /removed/);
  const invitedSends = await carol.node.attempt('group_send', { group: other, type: 'text', content: 'before accepting' });
  t.equal(invitedSends.error?.code, ErrorCode.CONFLICT, 'an invitee cannot send before it accepts');
  t.match(invitedSends.error?.message, /not a member/);
  const strangerSends = await bob.node.attempt('group_send', { group: other, type: 'text', content: 'uninvited' });
  t.equal(strangerSends.error?.code, ErrorCode.NOT_FOUND, 'nor a node the group is unknown to');

  // Bob leaves: Alice, the creator, records it in the next epoch.
  t.same(await bob.node.call('group_leave', { group }), { group, state: 'left' });
  const changed = await waitForEvent(alice.node, 'p2p.group.changed', (data) => data['group'] === group && data['epoch'] === 4, 'Alice told of Bob leaving');
  t.match(changed, { group, epoch: 4, changes: [{ op: 'leave', peer: bob.id }] });
  t.match(await listed(alice.node, group), { state: 'member', epoch: 4, members: [{ peer: alice.id }] });
  t.equal((await listed(alice.node, group))?.members.length, 1);
  t.match(await listed(bob.node, group), { state: 'left' });
  const bobSends = await bob.node.attempt('group_send', { group, type: 'text', content: 'one more' });
  t.equal(bobSends.error?.code, ErrorCode.CONFLICT, 'a member that left cannot send');
  t.same(((await alice.node.call('group_send', { group, type: 'text', content: 'alone now' })) as unknown as Sent).copies, [], 'Alice alone sends no copy');
});

t.test('kill -9 of the creator while the unpaired author’s message for an offline member waits in its inbox: after the restart the member gets it, once', async (t) => {
  // One unread message per group at Alice: Bob's second waits in her inbox, unrelayed, until her reader acks the first.
  const { alice: aliceFirst, bob, carol: carolFirst, group } = await threeInAGroup(t, { alice: ONE_UNREAD });
  let alice = aliceFirst;
  let carol = carolFirst;
  await carol.node.extension.shutdown();

  const first = await send(bob, group, 'first, relayed at once');
  await readUntil(alice.node, group, (messages) => contents(messages, bob.id).length === 1, 'Bob’s first message at Alice');
  const second = await send(bob, group, 'second, still with Alice');
  t.match(second.copies.find((copy) => copy.peer === carol.id), { via: 'creator' });
  // Delivered: in Alice's inbox, on disk. Not relayed: her group has no room for it yet.
  await delivered(bob.node, (second.copies.find((copy) => copy.peer === alice.id) as Copy).message_id);
  t.match(await listed(alice.node, group), { unread: 1 });
  alice.node.extension.kill('SIGKILL');
  await alice.node.extension.exited;

  alice = await restarted(t, alice, ONE_UNREAD);
  carol = await restarted(t, carol);
  const atAlice = await readAll(alice.node, group);
  t.same(contents(atAlice, bob.id), ['first, relayed at once'], 'after the restart Alice still holds the second unread-limited in her inbox');
  await alice.node.call('group_receive', { group, ack_through: (atAlice[0] as GroupMessage).cursor });
  await readUntil(alice.node, group, (messages) => contents(messages, bob.id).includes('second, still with Alice'), 'the second taken at Alice once she acked the first');

  const atCarol = await readUntil(carol.node, group, (messages) => contents(messages, bob.id).length >= 2, 'both of Bob’s messages at Carol');
  t.same(
    atCarol.filter((message) => message.author === bob.id).map(({ id, seq, content }) => ({ id, seq, content })),
    [
      { id: first.id, seq: 1, content: 'first, relayed at once' },
      { id: second.id, seq: 2, content: 'second, still with Alice' },
    ],
    'each once, in Bob’s order',
  );
  const announced = () => carol.node.events.filter((event) => event.type === 'p2p.group.message' && event.data['author'] === bob.id);
  await eventually(async () => (await carol.node.call('status')) && announced().length >= 2, 'the p2p.group.message events at Carol');
  t.equal(announced().length, 2, 'one p2p.group.message per message');
});

const CAROLS_AGENT: PluginDeclaration = {
  id: 'agent',
  secret: 'agent-secret-of-carol-0123456789',
  extensions: { 'p2p-comm': ['identity', 'requests', 'accept', 'groups', 'group_accept', 'group_receive'] },
};

t.test('group_accept through the reference host: the invitation line, then the high-risk dialog naming the group, its creator and each member, and saying whose messages come through the creator', async (t) => {
  const [alice, bob] = await Promise.all([member(t, 'Alice'), member(t, 'Bob')]);
  const dir = tempDir(t);
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify({ rules: approveAll(CAROLS_AGENT.id), default: 'deny' }));
  const decisions: string[] = [];
  const notices: string[] = [];
  const host = await startHost({
    hostDir: join(dir, 'host'),
    dataDir: join(dir, 'extension'),
    binary: BINARY,
    plugins: [CAROLS_AGENT],
    policyFile,
    env: { ...process.env, ...LOOPBACK_ENV },
    onStderrLine: () => undefined,
    onDecision: (line) => decisions.push(line),
    onNotice: (line) => notices.push(line),
  });
  t.teardown(() => host.stop());
  const carol = new PluginClient(host.apiUrl, CAROLS_AGENT.id, CAROLS_AGENT.secret);

  await pairNodes(alice.node, bob.node);
  const carolIdentity = await carol.data('identity');
  const carolId = carolIdentity['peer_id'] as string;
  await alice.node.call('pair', { link: carolIdentity['link'] as string });
  const request = await eventually(async () => ((await carol.data('requests'))['incoming'] as { request_id: string; peer: string }[])[0], 'Alice’s pairing request at Carol');
  await carol.data('accept', { request_id: request.request_id, peer: request.peer });

  const group = (await alice.node.call('group_create', { name: 'Project X' }))['group'] as string;
  await alice.node.call('group_invite', { group, peer: bob.id });
  await waitForEvent(bob.node, 'p2p.group.invited', (data) => data['group'] === group, 'Bob told of the invite');
  await bob.node.call('group_accept', { group });
  await eventually(async () => (await listed(alice.node, group))?.epoch === 1, 'Bob a member');
  await alice.node.call('group_invite', { group, peer: carolId });
  await eventually(async () => ((await carol.data('groups'))['groups'] as ListedGroup[]).find((entry) => entry.group === group && entry.state === 'invited'), 'the invite at Carol');

  // Each check a call through the host, which also has it fetch the extension's events.
  const noticed = (holds: (line: string) => boolean, what: string) =>
    eventually(async () => {
      await carol.data('groups');
      return notices.find(holds);
    }, what);
  const invitation = await noticed((line) => line.includes('invites you to'), 'the invitation line on Carol’s host');
  t.equal(
    invitation,
    `"Alice" (name chosen by them) fingerprint ${alice.fingerprint} invites you to the group "Project X" (name chosen by the creator) with 2 member(s); a plugin with group_accept can join, you will be asked`,
  );

  t.same(await carol.data('group_accept', { group }), { group, state: 'joining' });
  const dialog = decisions.find((line) => line.startsWith('high-risk group_accept'));
  t.ok(dialog !== undefined, 'the host asked before Carol joined');
  const facts = dialog ?? '';
  t.match(facts, 'group       "Project X" (chosen by the creator)');
  t.match(facts, `group id    ${group}, 2 member(s)`);
  t.match(facts, alice.fingerprint, 'the creator named by its fingerprint');
  t.match(facts, `member      "Bob" fingerprint ${bob.fingerprint}; paired with you: no — its messages reach you through the creator, signed by it`);
  t.match(facts, / -> approve$/);

  // Joined, Carol's plugin reads Bob's message, relayed by Alice.
  await eventually(async () => ((await carol.data('groups'))['groups'] as ListedGroup[]).find((entry) => entry.group === group && entry.state === 'member'), 'Carol a member');
  t.ok(await noticed((line) => line.startsWith(`the group "Project X" (${group}), epoch 2: `) && line.endsWith(' joined'), 'the line saying Carol joined'));
  const sent = await send(bob, group, 'welcome, Carol');
  t.match(sent.copies.find((copy) => copy.peer === carolId), { via: 'creator' });
  const read = await eventually(async () => {
    const messages = (await carol.data('group_receive', { group }))['messages'] as GroupMessage[];
    return messages.length > 0 ? messages : undefined;
  }, 'Bob’s message at Carol’s plugin');
  t.match(read, [{ author: bob.id, author_name: 'Bob', content: 'welcome, Carol', seq: 1, gap: false }]);
});
