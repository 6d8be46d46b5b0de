import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import t from 'tap';
import { encodeBase64url } from '../../extension/common/base64url';
import { publicKeyFromPeerId } from '../../extension/common/peer-id';
import {
  describeEpochRefusal,
  type EpochRefusal,
  type EpochStatement,
  epochStatementHash,
  GROUP_ID_PATTERN,
  groupIdOf,
  groupSigningInput,
  MAX_EPOCH_CHANGES,
  MAX_GROUP_MEMBERS,
  memberKey,
  readEpochStatement,
  readInviteStatement,
  readJoinStatement,
  readLeaveStatement,
  signEpochStatement,
  signInviteStatement,
  signJoinStatement,
  verifyEpochStatement,
  verifyInvite,
  verifyMemberStatement,
} from '../../extension/wire/group-statement';
import { WEAK_KEYS } from '../helpers/weak-keys';
import { addChange, createStatement, GROUP_NONCE, GROUP_TIME, groupHistory, groupPerson, leaveChange, memberOf, nextStatement, referenceBase32, referenceJcs } from '../helpers/groups';

const { alice, bob, carol, epochs } = groupHistory();
const [e0, e1, e2, e3] = epochs as [EpochStatement, EpochStatement, EpochStatement, EpochStatement];
const aliceKey = alice.identity.publicKey;

function nobleVerifies(object: { sig: string }, publicKey: Uint8Array): boolean {
  const { sig, ...unsigned } = object;
  const input = Buffer.from(`p2p-comm group v1\0${referenceJcs(unsigned)}`, 'utf8');
  return ed25519.verify(Buffer.from(sig, 'base64url'), input, publicKey);
}

const reread = <T>(value: T): unknown => JSON.parse(JSON.stringify(value));

/** The same JSON value with every object's members in reverse order. */
function reversedMembers(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedMembers);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reversedMembers(v)]));
}

t.test('a group id is grp- and the base32 of the first 20 bytes of SHA-256(label, 0x00, creator key, nonce)', async (t) => {
  const id = groupIdOf(alice.peer, GROUP_NONCE);
  t.match(id, GROUP_ID_PATTERN);
  const digest = nobleSha256(Buffer.concat([Buffer.from('p2p-comm group id v1\0'), publicKeyFromPeerId(alice.peer), GROUP_NONCE]));
  t.equal(id, `grp-${referenceBase32(digest.subarray(0, 20))}`, 're-derived independently');
  t.not(groupIdOf(bob.peer, GROUP_NONCE), id, 'another creator, another id');
  t.not(groupIdOf(alice.peer, new Uint8Array(16)), id, 'another nonce, another id');
  t.throws(() => groupIdOf(alice.peer, new Uint8Array(15)), { message: 'a group nonce is 16 bytes, not 15' });
});

t.test('the history verifies, each epoch against the one before and alone; noble checks every signature', async (t) => {
  t.equal(verifyEpochStatement(e0, aliceKey), null, 'epoch 0');
  for (let i = 1; i < epochs.length; i += 1) {
    t.equal(verifyEpochStatement(epochs[i]!, aliceKey, epochs[i - 1]!), null, `epoch ${i} after ${i - 1}`);
    t.equal(verifyEpochStatement(epochs[i]!, aliceKey), null, `epoch ${i} alone, as a new member reads it`);
  }
  for (const statement of epochs) t.ok(nobleVerifies(statement, aliceKey), `noble: epoch ${statement.epoch}`);
  const join = (e1.changes[0] as { join: { sig: string } }).join;
  t.ok(nobleVerifies(join, bob.identity.publicKey), 'noble: the join, by Bob');
  const leave = (e3.changes[0] as { leave: { sig: string } }).leave;
  t.ok(nobleVerifies(leave, bob.identity.publicKey), 'noble: the leave, by Bob');
  t.equal(e1.prev, Buffer.from(nobleSha256(Buffer.from(referenceJcs(e0)))).toString('hex'), 'prev is the SHA-256 of the JCS with sig');
  t.equal(Buffer.from(groupSigningInput(e0)).toString('utf8'), `p2p-comm group v1\0${referenceJcs({ ...e0, sig: undefined }).replace(',"sig":undefined', '')}`);
});

t.test('statements round trip through JSON in any member order', async (t) => {
  for (const statement of epochs) {
    const shuffled = reversedMembers(reread(statement));
    t.same(readEpochStatement(shuffled, 'e'), statement);
  }
  const invite = signInviteStatement({ t: 'invite', group: e2.group, invitee: carol.peer, epoch: 1, at: GROUP_TIME }, alice.identity);
  t.same(readInviteStatement(reread(invite), 'invite'), invite);
  t.same(readJoinStatement(reread((e1.changes[0] as { join: unknown }).join), 'join'), (e1.changes[0] as { join: unknown }).join);
  t.same(readLeaveStatement(reread((e3.changes[0] as { leave: unknown }).leave), 'leave'), (e3.changes[0] as { leave: unknown }).leave);
  t.same(memberKey(e2, carol.peer), carol.identity.publicKey);
  t.equal(memberKey(e3, bob.peer), null, 'Bob left at 3');
});

/** A statement like `base` with a change, signed by Alice: only the check under test fails. */
function resigned(base: EpochStatement, change: Partial<EpochStatement>): EpochStatement {
  const { sig: _sig, ...unsigned } = { ...base, ...change };
  return signEpochStatement(unsigned, alice.identity);
}

t.test('every refusal of an epoch statement, with its description', async (t) => {
  const dave = groupPerson(0x24, 'Dave');
  const otherGroup = createStatement(alice, new Uint8Array(16).fill(1));
  const cases: [EpochRefusal, EpochStatement, EpochStatement | null][] = [
    ['wrong_group_id', resigned(e1, { nonce: '00'.repeat(16) }), null],
    ['other_group', resigned(e1, { group: otherGroup.group, nonce: otherGroup.nonce }), e0],
    ['not_next', e2, e0],
    ['broken_link', resigned(e1, { prev: 'ab'.repeat(32) }), e0],
    ['renamed', resigned(e1, { name: 'Project Y' }), e0],
    ['bad_genesis', resigned(e0, { members: [memberOf(alice), memberOf(bob)] }), null],
    ['bad_genesis', resigned(e0, { changes: [{ op: 'remove', peer: bob.peer }] }), null],
    ['creator_not_first', resigned(e1, { members: [memberOf(bob), memberOf(alice)] }), null],
    ['creator_not_first', resigned(e1, { changes: [{ op: 'dissolve' }] }), null],
    ['duplicate_member', resigned(e1, { members: [memberOf(alice), memberOf(bob), memberOf(bob)] }), null],
    ['bad_change', resigned(e1, { members: [memberOf(alice)] }), null],
    ['bad_change', resigned(e3, { members: [memberOf(alice), memberOf(carol), memberOf(bob)] }), null],
    ['bad_change', resigned(e2, { changes: [{ op: 'key', peer: dave.peer }] }), null],
    ['bad_change', resigned(e2, { changes: [{ op: 'remove', peer: alice.peer }] }), null],
    ['bad_change', resigned(e2, { changes: [addChange(e1, carol), { op: 'key', peer: carol.peer }] }), null],
    ['bad_change', resigned(e2, { members: [], changes: [{ op: 'dissolve' }, { op: 'remove', peer: bob.peer }] }), null],
    ['members_mismatch', resigned(e2, { changes: [] }), e1],
    ['members_mismatch', resigned(e2, { members: [memberOf(alice), memberOf(bob, carol.identity.publicKey), memberOf(carol)] }), e1],
    ['members_mismatch', resigned(e2, { changes: [addChange(e1, carol), { op: 'key', peer: bob.peer }] }), e1],
    ['members_mismatch', resigned(e1, { members: [memberOf(alice)], changes: [{ op: 'remove', peer: bob.peer }] }), e0],
    ['unusable_key', resigned(e1, { members: [memberOf(alice), memberOf(bob, WEAK_KEYS.small_order)] }), null],
    ['bad_signature', { ...e1, at: e1.at + 1 }, e0],
    ['bad_join', resigned(e2, { changes: [addChange(e2, carol)] }), null],
    ['bad_join', resigned(e2, { changes: [{ ...addChange(e1, carol), join: addChange(e1, dave).join }] }), null],
    ['bad_join', resigned(e2, { changes: [{ ...addChange(e1, carol), join: { ...addChange(e1, carol).join, at: 1 } }] }), null],
    ['bad_join', resigned(e2, { changes: [{ ...addChange(e1, carol), join: addChange(otherGroup, carol).join }] }), null],
    ['bad_leave', resigned(e3, { changes: [{ ...leaveChange(e2, bob), leave: leaveChange(otherGroup, bob).leave }] }), e2],
    ['bad_leave', resigned(e3, { changes: [{ ...leaveChange(e2, bob), leave: leaveChange(e2, carol).leave }] }), e2],
    ['bad_leave', resigned(e3, { changes: [{ ...leaveChange(e2, bob), leave: { ...leaveChange(e2, bob).leave, at: 1 } }] }), e2],
  ];
  for (const [refusal, statement, previous] of cases) {
    t.equal(verifyEpochStatement(statement, aliceKey, previous), refusal, `${refusal}: ${describeEpochRefusal(refusal)}`);
  }
  t.equal(verifyEpochStatement(e1, bob.identity.publicKey, e0), 'bad_signature', 'signed by the creator, not anyone');
  t.equal(describeEpochRefusal('bad_join'), 'adds a member without a join that member signed for this group');
  const forgedLeave = resigned(e3, { changes: [{ ...leaveChange(e2, bob), leave: { ...leaveChange(e2, bob).leave, at: 1 } }] });
  t.equal(verifyEpochStatement(forgedLeave, aliceKey), null, 'without the epoch before, the creator vouches for a leave');
});

t.test('a dissolve, a removal and a key change are valid epochs', async (t) => {
  const removed = resigned(e3, { members: [memberOf(alice)], changes: [{ op: 'remove', peer: carol.peer }] });
  t.equal(verifyEpochStatement(removed, aliceKey, e2), 'members_mismatch', 'Bob left at 3 already, and the changes say so');
  const e4 = nextStatement(e3, alice, [memberOf(alice)], [{ op: 'remove', peer: carol.peer }]);
  t.equal(verifyEpochStatement(e4, aliceKey, e3), null, 'remove');
  const rotated = groupPerson(0x33, 'Carol');
  const e4key = nextStatement(e3, alice, [memberOf(alice), memberOf(carol, rotated.identity.publicKey)], [{ op: 'key', peer: carol.peer }]);
  t.equal(verifyEpochStatement(e4key, aliceKey, e3), null, 'key');
  t.same(memberKey(e4key, carol.peer), rotated.identity.publicKey);
  const dissolved = nextStatement(e3, alice, [], [{ op: 'dissolve' }]);
  t.equal(verifyEpochStatement(dissolved, aliceKey, e3), null, 'dissolve');
});

t.test('changing any member of a signed statement is refused', async (t) => {
  const tampered: Record<string, unknown> = {
    t: 'invite',
    group: groupIdOf(alice.peer, new Uint8Array(16)),
    nonce: 'ff'.repeat(16),
    name: 'Other',
    creator: bob.peer,
    epoch: 5,
    prev: 'cd'.repeat(32),
    members: [memberOf(alice), memberOf(carol)],
    changes: [addChange(e0, carol)],
    at: 1,
    sig: encodeBase64url(new Uint8Array(64)),
  };
  for (const [name, value] of Object.entries(tampered)) {
    const statement = { ...e2, [name]: value } as EpochStatement;
    t.not(verifyEpochStatement(statement, aliceKey, e1), null, `${name}: ${String(verifyEpochStatement(statement, aliceKey, e1))}`);
    t.not(verifyEpochStatement(statement, aliceKey), null, `${name}, alone`);
  }
  const join = addChange(e1, carol).join as unknown as Record<string, unknown>;
  for (const [name, value] of Object.entries({ group: e3.group.replace(/.$/, 'a'), peer: bob.peer, epoch_seen: 0, at: 2, sig: join['sig'] })) {
    if (join[name] === value) continue;
    const changes = [{ op: 'add', peer: carol.peer, join: { ...join, [name]: value } }] as unknown as EpochStatement['changes'];
    t.equal(verifyEpochStatement(resigned(e2, { changes }), aliceKey, e1), 'bad_join', `join.${name}`);
  }
});

t.test('schema refusals say what is wrong', async (t) => {
  const bad = (change: Record<string, unknown>) => () => readEpochStatement({ ...reread(e1) as object, ...change }, 'epochs[0]');
  const refusals: [Record<string, unknown>, string][] = [
    [{ extra: 1 }, 'epochs[0] has no member "extra"'],
    [{ t: 'epochs' }, 'epochs[0].t is not "epoch"'],
    [{ group: 'grp-x' }, 'epochs[0].group is not a group id (grp- and 32 characters a-z, 2-7)'],
    [{ nonce: 'AB'.repeat(16) }, 'epochs[0].nonce is not 32 lower-case hex characters'],
    [{ name: 'a\u202eb' }, 'epochs[0].name is not a display name (1-64 characters, not only whitespace, no control, line-separator, text-direction, zero-width or invisible character)'],
    [{ creator: 'alice' }, 'epochs[0].creator is not a peer id'],
    [{ epoch: -1 }, 'epochs[0].epoch is not a whole number from 0 to 4294967295'],
    [{ epoch: 1.5 }, 'epochs[0].epoch is not a whole number from 0 to 4294967295'],
    [{ prev: null }, 'epochs[0].prev is not 64 lower-case hex characters'],
    [{ epoch: 0 }, 'epochs[0].prev is not null at epoch 0'],
    [{ members: {} }, 'epochs[0].members is not an array'],
    [{ members: Array.from({ length: MAX_GROUP_MEMBERS + 1 }, () => memberOf(bob)) }, `epochs[0].members holds ${MAX_GROUP_MEMBERS + 1} items, not 0 to ${MAX_GROUP_MEMBERS}`],
    [{ members: [{ peer: bob.peer, key: 'short', name: 'Bob' }] }, 'epochs[0].members[0].key is not a base64url Ed25519 public key (43 characters)'],
    [{ members: [{ peer: bob.peer, name: 'Bob' }] }, 'epochs[0].members[0] lacks key'],
    [{ changes: Array.from({ length: MAX_EPOCH_CHANGES + 1 }, () => ({ op: 'dissolve' })) }, `epochs[0].changes holds ${MAX_EPOCH_CHANGES + 1} items, not 0 to ${MAX_EPOCH_CHANGES}`],
    [{ changes: [{ op: 'rename' }] }, 'epochs[0].changes[0].op is none of add, leave, remove, key, dissolve'],
    [{ changes: [{ op: 'remove', peer: bob.peer, why: 'x' }] }, 'epochs[0].changes[0] has no member "why"'],
    [{ changes: [{ op: 'add', peer: bob.peer }] }, 'epochs[0].changes[0] lacks join'],
    [{ changes: [{ op: 'dissolve', peer: bob.peer }] }, 'epochs[0].changes[0] has no member "peer"'],
    [{ at: 8_640_000_000_000_001 }, 'epochs[0].at is not a whole number from 0 to 8640000000000000'],
    [{ sig: 'A'.repeat(85) }, 'epochs[0].sig is not a base64url Ed25519 signature (86 characters)'],
    [{ sig: `${'A'.repeat(85)}B` }, 'epochs[0].sig is not a base64url Ed25519 signature (86 characters)'],
  ];
  for (const [change, message] of refusals) t.throws(bad(change), { name: 'GroupFormatError', reason: 'bad_schema', message }, message);
  t.throws(() => readEpochStatement([], 'e'), { message: 'e is not a JSON object' });
  const join = reread((e1.changes[0] as { join: unknown }).join) as Record<string, unknown>;
  t.throws(() => readJoinStatement({ ...join, t: 'leave' }, 'join'), { message: 'join.t is not "join"' });
  t.throws(() => readJoinStatement({ ...join, epoch_seen: 2 ** 32 }, 'join'), { message: 'join.epoch_seen is not a whole number from 0 to 4294967295' });
  t.throws(() => readInviteStatement({ ...join, t: 'invite' }, 'invite'), { message: 'invite has no member "peer"' });
  t.throws(() => readLeaveStatement({ ...join, t: 'leave' }, 'leave'), { message: 'leave has no member "epoch_seen"' });
});

t.test('signing refuses what a peer would refuse', async (t) => {
  const { sig: _sig, ...unsigned } = e1;
  t.throws(() => signEpochStatement({ ...unsigned, name: '' }, alice.identity), { name: 'P2pError', message: /^the epoch\.name is not a display name/ });
  t.throws(() => signJoinStatement({ t: 'join', group: e1.group, peer: bob.peer, epoch_seen: -1, at: 0 }, bob.identity), { name: 'P2pError', message: 'the join.epoch_seen is not a whole number from 0 to 4294967295' });
});

t.test('invites, joins and leaves verify against the keys their readers know', async (t) => {
  const invite = signInviteStatement({ t: 'invite', group: e2.group, invitee: carol.peer, epoch: 1, at: GROUP_TIME }, alice.identity);
  t.ok(nobleVerifies(invite, aliceKey), 'noble: the invite');
  t.equal(verifyInvite(invite, e1, aliceKey), null);
  t.equal(verifyInvite(invite, e2, aliceKey), 'other_epoch');
  t.equal(verifyInvite(invite, createStatement(alice, new Uint8Array(16)), aliceKey), 'other_group');
  t.equal(verifyInvite(invite, e1, bob.identity.publicKey), 'bad_signature');
  t.equal(verifyInvite({ ...invite, invitee: bob.peer }, e1, aliceKey), 'bad_signature', 'the invitee is signed');
  const join = (e2.changes[0] as { join: Parameters<typeof verifyMemberStatement>[0] }).join;
  t.equal(verifyMemberStatement(join, e2.group, carol.peer, carol.identity.publicKey), null);
  t.equal(verifyMemberStatement(join, e0.group.replace(/.$/, 'a'), carol.peer, carol.identity.publicKey), 'other_group');
  t.equal(verifyMemberStatement(join, e2.group, bob.peer, carol.identity.publicKey), 'other_peer');
  t.equal(verifyMemberStatement(join, e2.group, carol.peer, bob.identity.publicKey), 'bad_signature');
  const leave = (e3.changes[0] as { leave: Parameters<typeof verifyMemberStatement>[0] }).leave;
  t.equal(verifyMemberStatement(leave, e3.group, bob.peer, bob.identity.publicKey), null);
});

t.test('property: any group a creator makes verifies after a JSON round trip; noble agrees', async (t) => {
  const creator = alice;
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.string({ minLength: 1, maxLength: 20 }).filter((name) => /^[\p{L}\p{N} ]+$/u.test(name) && name.trim() !== ''),
      fc.integer({ min: 0, max: 8_640_000_000_000_000 }),
      (nonce, name, at) => {
        const { sig: _sig, ...unsigned } = createStatement(creator, nonce);
        const statement = signEpochStatement({ ...unsigned, name, at }, creator.identity);
        const back = readEpochStatement(reread(statement), 'e');
        return verifyEpochStatement(back, aliceKey) === null && back.name === name && back.at === at && epochStatementHash(back) === epochStatementHash(statement) && ed25519.verify(Buffer.from(back.sig, 'base64url'), groupSigningInput(back), aliceKey);
      },
    ),
    { numRuns: 50 },
  );
  t.pass('50 groups');
});
