import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { GROUPS_FILE_NAME, type GroupStoreLimits, GroupStore, type StoredGroup } from '../../extension/groups/group-store';
import { type EpochStatement, type InviteStatement, signInviteStatement } from '../../extension/wire/group-statement';
import { signGroupEnvelope } from '../../extension/wire/group-payload';
import { tempDir } from '../helpers/extension';
import { addChange, createStatement, GROUP_TIME, groupHistory, type GroupPerson, groupPerson, leaveChange, memberOf, nextStatement } from '../helpers/groups';

const { alice, bob, carol, epochs } = groupHistory();
const [e0, e1, e2, e3] = epochs as [EpochStatement, EpochStatement, EpochStatement, EpochStatement];
const aliceKey = alice.identity.publicKey;

function openStore(t: Test, self: GroupPerson, limits: Partial<GroupStoreLimits> = {}) {
  const dir = tempDir(t);
  const handle = {
    dir,
    file: join(dir, GROUPS_FILE_NAME),
    store: GroupStore.open(dir, self.peer, limits),
    reopen(): GroupStore {
      handle.store = GroupStore.open(dir, self.peer, limits);
      return handle.store;
    },
  };
  return handle;
}

function inviteFor(invitee: GroupPerson, head: EpochStatement): InviteStatement {
  return signInviteStatement({ t: 'invite', group: head.group, invitee: invitee.peer, epoch: head.epoch, at: GROUP_TIME }, alice.identity);
}

/** The invitee accepts: it keeps the join the history's epoch that adds it carries. */
function accept(store: GroupStore, person: GroupPerson): void {
  for (const statement of [e1, e2]) {
    for (const change of statement.changes) if (change.op === 'add' && change.peer === person.peer) store.recordJoin(statement.group, change.join);
  }
}

function must(group: StoredGroup | undefined): StoredGroup {
  if (group === undefined) throw new Error('the group is not held');
  return group;
}

function epochsOf(group: StoredGroup | undefined): number[] {
  return must(group).statements.map((statement) => statement.epoch);
}

t.test('the creator records its group and every epoch after it; all of it survives reopening', async (t) => {
  const handle = openStore(t, alice);
  const created = handle.store.create(e0, aliceKey);
  t.match(created, { id: e0.group, name: 'Project X', creator: alice.peer, state: 'member', joinedEpoch: 0, mySeq: 0 });
  for (const statement of [e1, e2, e3]) t.equal(handle.store.recordEpoch(e0.group, statement).outcome, 'applied', `epoch ${statement.epoch}`);
  const store = handle.reopen();
  const group = must(store.get(e0.group));
  t.same(epochsOf(group), [0, 1, 2, 3]);
  t.match(group, { state: 'member', joinedEpoch: 0, reason: null, invite: null });
  t.same(Buffer.from(group.creatorKey), Buffer.from(aliceKey));
  t.equal(statSync(handle.file).mode & 0o777, 0o600, 'the file is private');
  t.throws(() => store.create(e0, aliceKey), { name: 'P2pError', errorName: 'CONFLICT' }, 'the same group twice');
  t.throws(() => GroupStore.open(handle.dir, bob.peer).create(e0, aliceKey), { name: 'P2pError', errorName: 'INVALID_INPUT' }, 'only its creator creates a group');
});

t.test('an invitee holds the invite, becomes a member with the epoch that adds it, and keeps the chain from the epoch before', async (t) => {
  const handle = openStore(t, carol);
  const invited = handle.store.addInvite(inviteFor(carol, e1), [e0, e1], aliceKey);
  t.match(invited, { state: 'invited', joinedEpoch: null });
  t.equal(invited.invite?.invitee, carol.peer);
  let store = handle.reopen();
  t.equal(must(store.get(e0.group)).state, 'invited', 'the invite survives reopening');
  accept(store, carol);
  t.equal(store.recordEpoch(e0.group, e2).outcome, 'applied');
  t.match(store.get(e0.group), { state: 'member', joinedEpoch: 2, invite: null });
  t.equal(store.recordEpoch(e0.group, e3).outcome, 'applied');
  store = handle.reopen();
  t.same(epochsOf(store.get(e0.group)), [1, 2, 3], 'older statements are pruned: from the epoch before joining');
  t.equal(must(store.get(e0.group)).state, 'member');
});

t.test('an invitee accepting late takes only the statement that adds it', async (t) => {
  const handle = openStore(t, carol);
  handle.store.addInvite(inviteFor(carol, e0), [e0], aliceKey);
  accept(handle.store, carol);
  t.match(handle.store.recordEpoch(e0.group, e1), { outcome: 'refused', message: /only invited/ }, 'an epoch that does not add it');
  t.equal(handle.store.recordEpoch(e0.group, e2).outcome, 'applied', 'epoch 2 adds carol, after a gap');
  t.same(epochsOf(handle.reopen().get(e0.group)), [2]);
});

t.test('leaving, removal and dissolution show in the state, and survive reopening', async (t) => {
  const bobHandle = openStore(t, bob);
  bobHandle.store.addInvite(inviteFor(bob, e0), [e0], aliceKey);
  accept(bobHandle.store, bob);
  for (const statement of [e1, e2, e3]) bobHandle.store.recordEpoch(e0.group, statement);
  t.match(bobHandle.reopen().get(e0.group), { state: 'left', joinedEpoch: 1 }, 'the epoch with its leave');

  const early = openStore(t, bob);
  early.store.addInvite(inviteFor(bob, e0), [e0], aliceKey);
  accept(early.store, bob);
  early.store.recordEpoch(e0.group, e1);
  t.match(early.store.leave(e0.group, 'user_left'), { state: 'left', reason: 'user_left' });
  early.store.recordEpoch(e0.group, e2);
  t.match(early.reopen().get(e0.group), { state: 'left', reason: 'user_left' }, 'a leave of its own stays, whatever epochs follow');
  t.throws(() => early.store.leave(e0.group, 'Not A Code'), RangeError);

  const declined = openStore(t, carol);
  declined.store.addInvite(inviteFor(carol, e1), [e0, e1], aliceKey);
  t.match(declined.store.leave(e0.group, 'declined'), { state: 'left', invite: null });
  declined.store.forget(e0.group);
  t.same(declined.reopen().list(), [], 'a group forgotten is gone from the file');

  const carolHandle = openStore(t, carol);
  carolHandle.store.addInvite(inviteFor(carol, e1), [e0, e1], aliceKey);
  accept(carolHandle.store, carol);
  for (const statement of [e2, e3]) carolHandle.store.recordEpoch(e0.group, statement);
  const e4 = nextStatement(e3, alice, [memberOf(alice)], [{ op: 'remove', peer: carol.peer }]);
  t.equal(carolHandle.store.recordEpoch(e0.group, e4).outcome, 'applied');
  t.equal(must(carolHandle.reopen().get(e0.group)).state, 'removed');

  const creator = openStore(t, alice);
  creator.store.create(e0, aliceKey);
  for (const statement of [e1, e2, e3]) creator.store.recordEpoch(e0.group, statement);
  const dissolved = nextStatement(e3, alice, [], [{ op: 'dissolve' }]);
  t.equal(creator.store.recordEpoch(e0.group, dissolved).outcome, 'applied');
  const store = creator.reopen();
  t.equal(must(store.get(e0.group)).state, 'dissolved');
  t.match(store.recordEpoch(e0.group, nextStatement(dissolved, alice, [memberOf(alice)], [])), { outcome: 'refused', message: /dissolved/ });
  t.throws(() => store.takeSeq(e0.group), { errorName: 'CONFLICT', message: /not a member/ });
});

t.test('a statement held already is known, a later one is a gap, a forged or second one is refused', async (t) => {
  const { store } = openStore(t, alice);
  store.create(e0, aliceKey);
  store.recordEpoch(e0.group, e1);
  t.equal(store.recordEpoch(e0.group, e1).outcome, 'known');
  t.equal(store.recordEpoch(e0.group, e0).outcome, 'known');
  t.equal(store.recordEpoch(e0.group, e3).outcome, 'gap', 'epoch 3 before epoch 2');
  const other = nextStatement(e0, alice, [memberOf(alice), memberOf(carol)], [addChange(e0, carol)]);
  t.match(store.recordEpoch(e0.group, other), { outcome: 'refused', message: /another statement of epoch 1/ });
  const forged = nextStatement(e1, bob, e2.members, e2.changes);
  t.match(store.recordEpoch(e0.group, forged), { outcome: 'refused', message: /signature|sign/ }, 'signed by someone else than the creator');
  t.match(store.recordEpoch(e0.group, createStatement(bob)), { outcome: 'refused', message: /of group/ });
  t.same(epochsOf(store.get(e0.group)), [0, 1], 'nothing refused was kept');
  t.throws(() => store.recordEpoch('grp-' + 'a'.repeat(32), e1), { name: 'P2pError', errorName: 'NOT_FOUND' });
});

t.test('an invite must verify: its statements with the creator key, and itself', async (t) => {
  const { store } = openStore(t, carol);
  t.throws(() => store.addInvite(inviteFor(carol, e1), [e0, e1], bob.identity.publicKey), { errorName: 'INVALID_INPUT', message: /refused/ });
  t.throws(() => store.addInvite(inviteFor(carol, e1), [e1, e0], aliceKey), { name: 'P2pError', errorName: 'INVALID_INPUT' }, 'out of order');
  t.throws(() => store.addInvite(inviteFor(carol, e0), [e0, e1], aliceKey), { errorName: 'INVALID_INPUT', message: /other_epoch/ });
  t.throws(() => store.addInvite(inviteFor(bob, e1), [e0, e1], aliceKey), { errorName: 'INVALID_INPUT', message: /for .* not this node/ });
  t.throws(() => store.addInvite(inviteFor(carol, e1), [], aliceKey), { name: 'P2pError', errorName: 'INVALID_INPUT' });
  t.same(store.list(), []);
});

t.test("this node's seq is written before it is handed out, and goes on after a new invite", async (t) => {
  const handle = openStore(t, bob);
  handle.store.addInvite(inviteFor(bob, e0), [e0], aliceKey);
  t.throws(() => handle.store.takeSeq(e0.group), { name: 'P2pError', errorName: 'CONFLICT' }, 'an invitee sends nothing');
  accept(handle.store, bob);
  handle.store.recordEpoch(e0.group, e1);
  t.same(handle.store.takeSeq(e0.group), { seq: 1, prevEpoch: 0, epoch: 1 });
  handle.store.recordEpoch(e0.group, e2);
  t.same(handle.reopen().takeSeq(e0.group), { seq: 2, prevEpoch: 1, epoch: 2 }, 'after reopening');
  handle.store.recordEpoch(e0.group, e3);
  t.equal(must(handle.store.get(e0.group)).state, 'left');
  handle.store.addInvite(inviteFor(bob, e3), [e3], aliceKey);
  t.match(handle.store.get(e0.group), { state: 'invited', mySeq: 2 }, 'invited again, its counter kept: a seq is never used twice');
});

t.test('an outgoing message: its seq and envelope written in one step, its copies marked queued, cleared when all are', async (t) => {
  const handle = openStore(t, bob);
  handle.store.addInvite(inviteFor(bob, e0), [e0], aliceKey);
  accept(handle.store, bob);
  handle.store.recordEpoch(e0.group, e1);
  const envelopeFor = (taken: { seq: number; prevEpoch: number; epoch: number }, id: string) =>
    signGroupEnvelope(
      { t: 'msg', group: e0.group, epoch: taken.epoch, author: bob.peer, seq: taken.seq, prev_epoch: taken.prevEpoch, id, created_at: GROUP_TIME, type: 'text', content: 'hi' },
      bob.identity,
    );
  t.throws(
    () =>
      handle.store.beginSend(e0.group, () => {
        throw new Error('too large');
      }),
    /too large/,
  );
  t.equal(must(handle.store.get(e0.group)).mySeq, 0, 'a prepare that throws takes no seq');
  const copies = [
    { peer: alice.peer, relay: [carol.peer], messageId: 'a1'.repeat(16), queued: false },
    { peer: carol.peer, relay: null, messageId: 'c1'.repeat(16), queued: false },
  ];
  const sent = handle.store.beginSend(e0.group, (taken) => ({ envelope: envelopeFor(taken, '01'.repeat(16)), copies }));
  t.match(sent.envelope, { seq: 1, prev_epoch: 0, epoch: 1 });
  t.same(handle.reopen().get(e0.group)?.outgoing, [{ envelope: sent.envelope, copies }], 'on disk, with the ids chosen');
  t.equal(must(handle.store.get(e0.group)).mySeq, 1);
  handle.store.copiesQueued(e0.group, sent.envelope.id, ['a1'.repeat(16)]);
  t.match(handle.reopen().get(e0.group)?.outgoing, [{ copies: [{ peer: alice.peer, queued: true }, { peer: carol.peer, queued: false }] }]);
  handle.store.copiesQueued(e0.group, sent.envelope.id, [], [carol.peer]);
  t.same(handle.reopen().get(e0.group)?.outgoing, [], 'a copy to a member gone is dropped; none left, the message is no longer outgoing');
  t.throws(
    () => handle.store.beginSend(e0.group, (taken) => ({ envelope: envelopeFor({ ...taken, seq: taken.seq + 1 }, '02'.repeat(16)), copies })),
    RangeError,
    'an envelope under another seq than the one taken',
  );
  const stored = JSON.parse(readFileSync(handle.file, 'utf8'));
  stored.groups[e0.group].outgoing = [{ envelope: { ...sent.envelope, content: 'altered' }, copies: [] }];
  writeFileSync(handle.file, JSON.stringify(stored));
  t.throws(() => handle.reopen(), /outgoing|copies/, 'a damaged outgoing record refuses the file');
});

t.test('the last seq seen per author only moves forward, and only for members', async (t) => {
  const handle = openStore(t, alice);
  handle.store.create(e0, aliceKey);
  handle.store.recordEpoch(e0.group, e1);
  t.equal(handle.store.recordSeen(e0.group, bob.peer, 3), true);
  t.equal(handle.store.recordSeen(e0.group, bob.peer, 2), false);
  t.equal(handle.store.recordSeen(e0.group, bob.peer, 3), false);
  t.same(handle.reopen().get(e0.group)?.lastSeq, { [bob.peer]: 3 });
  t.throws(() => handle.store.recordSeen(e0.group, carol.peer, 1), { errorName: 'INVALID_INPUT', message: /member of no epoch/ });
  t.throws(() => handle.store.recordSeen(e0.group, bob.peer, 0), RangeError);
});

t.test('limits: groups per node, invites per creator, members per group, statements kept', async (t) => {
  const creator = openStore(t, alice, { maxGroups: 1, maxMembers: 2, maxStatements: 2 });
  creator.store.create(e0, aliceKey);
  t.throws(() => creator.store.create(createStatement(alice, new Uint8Array(16).fill(1)), aliceKey), { errorName: 'LIMIT_REACHED', message: /1 groups or invites.*P2P_COMM_MAX_GROUPS/ });
  creator.store.checkRoomForMember(e0.group);
  creator.store.recordEpoch(e0.group, e1);
  t.throws(() => creator.store.checkRoomForMember(e0.group), { errorName: 'LIMIT_REACHED', message: /2 members.*P2P_COMM_GROUP_MAX_MEMBERS/ });
  creator.store.recordEpoch(e0.group, e2);
  creator.store.recordEpoch(e0.group, e3);
  t.same(epochsOf(creator.reopen().get(e0.group)), [2, 3], 'the newest maxStatements');
  creator.store.leave(e0.group, 'user_left');
  creator.store.create(createStatement(alice, new Uint8Array(16).fill(1)), aliceKey);
  t.equal(creator.store.list().length, 2, 'a group left holds no place among the open ones');
  const second = createStatement(alice, new Uint8Array(16).fill(1)).group;
  creator.store.leave(second, 'user_left');
  t.same(creator.reopen().list().map((group) => group.id), [second], 'as many ended groups are kept as open ones may be, the newest');

  const invitee = openStore(t, carol, { maxInvitesPerCreator: 1 });
  invitee.store.addInvite(inviteFor(carol, e1), [e0, e1], aliceKey);
  t.equal(invitee.store.addInvite(inviteFor(carol, e1), [e0, e1], aliceKey).state, 'invited', 'the same invite again takes no second place');
  const another = createStatement(alice, new Uint8Array(16).fill(2));
  t.throws(() => invitee.store.addInvite(inviteFor(carol, another), [another], aliceKey), { errorName: 'LIMIT_REACHED', message: /1 invites from .*P2P_COMM_GROUP_MAX_INVITES_PER_PEER/ });

  t.throws(() => GroupStore.open(tempDir(t), alice.peer, { maxMembers: 33 }), RangeError, 'above the format cap');
  t.throws(() => GroupStore.open(tempDir(t), alice.peer, { maxGroups: 0 }), RangeError);
});

t.test('damaged files are refused with the file and the first problem named', async (t) => {
  const handle = openStore(t, alice);
  handle.store.create(e0, aliceKey);
  handle.store.recordEpoch(e0.group, e1);
  const good = JSON.parse(readFileSync(handle.file, 'utf8'));
  const entry = good.groups[e0.group];
  const cases: [string, unknown, RegExp][] = [
    ['not JSON', '{"version":1,', /not valid JSON/],
    ['an unknown field', { ...good, extra: 1 }, /unexpected field "extra"/],
    ['a bad group id', { ...good, groups: { 'grp-x': entry } }, /key "grp-x"/],
    ['an unknown state', { ...good, groups: { [e0.group]: { ...entry, state: 'joining' } } }, /state must be one of/],
    ['a tampered statement', { ...good, groups: { [e0.group]: { ...entry, statements: [e0, { ...e1, at: e1.at + 1 }] } } }, /epoch 1: .*sign/],
    ['a gap in the chain', { ...good, groups: { [e0.group]: { ...entry, statements: [e0, e2] } } }, /epoch 2/],
    ['a statement of another schema', { ...good, groups: { [e0.group]: { ...entry, statements: [{ ...e0, extra: true }] } } }, /statements\[0\]/],
    ['another creator key', { ...good, groups: { [e0.group]: { ...entry, creator_key: Buffer.from(bob.identity.publicKey).toString('base64url') } } }, /epoch 0: .*sign/],
    ['an invite beside the member state', { ...good, groups: { [e0.group]: { ...entry, invite: inviteFor(carol, e1) } } }, /invite is held exactly while/],
    ['a group under another id', { ...good, groups: { [createStatement(alice, new Uint8Array(16).fill(3)).group]: entry } }, /statements are of group/],
  ];
  for (const [what, content, problem] of cases) {
    writeFileSync(handle.file, typeof content === 'string' ? content : JSON.stringify(content));
    t.throws(() => GroupStore.open(handle.dir, alice.peer), { errorName: 'STATE_FILE_CORRUPT', message: problem }, what);
    t.throws(() => GroupStore.open(handle.dir, alice.peer), { message: /the groups file .*groups\.json is corrupt.*move it away to leave every group/ });
  }
  writeFileSync(handle.file, JSON.stringify(good));
  t.same(epochsOf(GroupStore.open(handle.dir, alice.peer).get(e0.group)), [0, 1], 'the file as written opens');
});

t.test('statements that come early are held, applied with the one before them, and kept across reopening', async (t) => {
  const handle = openStore(t, alice);
  handle.store.create(e0, aliceKey);
  t.equal(handle.store.recordEpoch(e0.group, e3).outcome, 'gap');
  t.equal(handle.store.recordEpoch(e0.group, e2).outcome, 'gap');
  t.same(must(handle.reopen().get(e0.group)).held.map((statement) => statement.epoch), [2, 3], 'held, oldest first, across reopening');
  const outcome = handle.store.recordEpoch(e0.group, e1);
  t.equal(outcome.outcome, 'applied');
  if (outcome.outcome === 'applied') t.same(outcome.applied.map((statement) => statement.epoch), [1, 2, 3], 'the held ones follow in the same call');
  t.same(must(handle.store.get(e0.group)).held, []);
  t.same(epochsOf(handle.store.get(e0.group)), [0, 1, 2, 3]);
});

t.test('a join replayed to re-add a member who left or was removed is refused; a fresh one is taken', async (t) => {
  const handle = openStore(t, carol);
  handle.store.addInvite(inviteFor(carol, e1), [e0, e1], aliceKey);
  accept(handle.store, carol);
  for (const statement of [e2, e3]) handle.store.recordEpoch(e0.group, statement);
  const bobsOldJoin = (e1.changes[0] as Extract<EpochStatement['changes'][number], { op: 'add' }>).join;
  const replayed = nextStatement(e3, alice, [...e3.members, memberOf(bob)], [{ op: 'add', peer: bob.peer, join: bobsOldJoin }]);
  t.match(handle.store.recordEpoch(e0.group, replayed), { outcome: 'refused', message: /adds .* with a join older than its last leave/ });
  const fresh = nextStatement(e3, alice, [...e3.members, memberOf(bob)], [addChange(e3, bob)]);
  t.equal(handle.store.recordEpoch(e0.group, fresh).outcome, 'applied', 'a join that saw the epoch of the leave');
});

t.test('a node out of a group is not made a member again by a statement that lists it', async (t) => {
  const handle = openStore(t, carol);
  handle.store.addInvite(inviteFor(carol, e1), [e0, e1], aliceKey);
  accept(handle.store, carol);
  for (const statement of [e2, e3]) handle.store.recordEpoch(e0.group, statement);
  const e4 = nextStatement(e3, alice, [memberOf(alice)], [{ op: 'remove', peer: carol.peer }]);
  handle.store.recordEpoch(e0.group, e4);
  const e5 = nextStatement(e4, alice, [memberOf(alice), memberOf(carol)], [addChange(e4, carol)]);
  t.equal(handle.store.recordEpoch(e0.group, e5).outcome, 'applied', 'the creator may sign it');
  t.equal(must(handle.store.get(e0.group)).state, 'removed', 'but this node accepted no new invite: it stays out');
});

t.test('a statement that lists this node with a key it does not hold is refused', async (t) => {
  const handle = openStore(t, carol);
  handle.store.addInvite(inviteFor(carol, e1), [e0, e1], aliceKey);
  accept(handle.store, carol);
  const impostor = { ...carol, identity: groupPerson(0x2c, 'Impostor').identity };
  const forgedJoin = addChange(e1, impostor);
  const forged = nextStatement(e1, alice, [...e1.members, memberOf(carol, impostor.identity.publicKey)], [forgedJoin]);
  t.match(handle.store.recordEpoch(e0.group, forged), { outcome: 'refused', message: /lists this node with a key it does not hold/ });
  t.equal(must(handle.store.get(e0.group)).state, 'invited');
  t.equal(handle.store.recordEpoch(e0.group, e2).outcome, 'applied', 'the statement with its own key and join is taken');
});

t.test('a chain does not start at a statement whose leave this node cannot check', async (t) => {
  const handle = openStore(t, carol);
  handle.store.addInvite(inviteFor(carol, e0), [e0], aliceKey);
  accept(handle.store, carol);
  const addsAndLeaves = nextStatement(e1, alice, [memberOf(alice), memberOf(carol)], [leaveChange(e1, bob), addChange(e1, carol)]);
  t.match(handle.store.recordEpoch(e0.group, addsAndLeaves), { outcome: 'refused', message: /leave this node cannot check/ });
  t.equal(must(handle.store.get(e0.group)).state, 'invited');
});

t.test('an invitee holds a statement that overtook the one adding it, and applies both in order', async (t) => {
  const handle = openStore(t, carol);
  handle.store.addInvite(inviteFor(carol, e1), [e0, e1], aliceKey);
  accept(handle.store, carol);
  t.equal(handle.store.recordEpoch(e0.group, e3).outcome, 'gap', 'epoch 3 first: held');
  const outcome = handle.store.recordEpoch(e0.group, e2);
  if (outcome.outcome !== 'applied') throw new Error(`epoch 2 was ${outcome.outcome}`);
  t.same(outcome.applied.map((statement) => statement.epoch), [2, 3]);
  t.match(handle.store.get(e0.group), { state: 'member', joinedEpoch: 2 });
});

t.test('after the creator rotates, its statements are checked with its new key, the older ones with the former', async (t) => {
  const handle = openStore(t, bob);
  handle.store.addInvite(inviteFor(bob, e0), [e0], aliceKey);
  accept(handle.store, bob);
  handle.store.recordEpoch(e0.group, e1);
  const rotated = { ...alice, identity: groupPerson(0x2d, 'Alice rotated').identity };
  const e2r = nextStatement(e1, rotated, [...e1.members, memberOf(carol)], [addChange(e1, carol)]);
  t.match(handle.store.recordEpoch(e0.group, e2r), { outcome: 'refused', message: /not signed by the creator/ }, 'without the new key');
  t.equal(handle.store.recordEpoch(e0.group, e2r, rotated.identity.publicKey).outcome, 'applied', 'with the key this node now knows');
  const reopened = must(handle.reopen().get(e0.group));
  t.same(Buffer.from(reopened.creatorKey), Buffer.from(rotated.identity.publicKey), 'the new key is held');
  t.same(epochsOf(reopened), [0, 1, 2], 'the older statements still verify, with the former key');
});

t.test('a new invite that contradicts the chain held is refused: the fork stays on record', async (t) => {
  const handle = openStore(t, bob);
  handle.store.addInvite(inviteFor(bob, e0), [e0], aliceKey);
  accept(handle.store, bob);
  for (const statement of [e1, e2, e3]) handle.store.recordEpoch(e0.group, statement);
  t.equal(must(handle.store.get(e0.group)).state, 'left');
  const dave = groupPerson(0x2e, 'Dave');
  const e2x = nextStatement(e1, alice, [...e1.members, memberOf(dave)], [addChange(e1, dave)]);
  t.throws(() => handle.store.addInvite(inviteFor(bob, e2x), [e1, e2x], aliceKey), { name: 'P2pError', errorName: 'CONFLICT', message: /signed two statements of epoch 2/ });
  t.same(epochsOf(handle.reopen().get(e0.group)), [0, 1, 2, 3], 'the chain held, the evidence, is kept');
  t.equal(handle.store.addInvite(inviteFor(bob, e3), [e2, e3], aliceKey).state, 'invited', 'an invite that agrees with it is taken');
});
