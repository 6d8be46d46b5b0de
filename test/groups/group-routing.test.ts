import t, { type Test } from 'tap';
import { GroupMessageLog } from '../../extension/groups/group-messages';
import { GroupOrder } from '../../extension/groups/group-order';
import { checkEnvelope, copiesToResend, type OutgoingEnvelope, planCopies } from '../../extension/groups/group-routing';
import { GroupStore } from '../../extension/groups/group-store';
import { type EpochStatement, signInviteStatement } from '../../extension/wire/group-statement';
import { tempDir } from '../helpers/extension';
import { addChange, envelopeBy, GROUP_TIME, groupHistory, groupPerson, memberOf, nextStatement } from '../helpers/groups';

// Alice creates, Bob joins at 1, Carol at 2, Bob leaves at 3; Dave joins at 4 and Erin at 5.
const { alice, bob, carol, epochs } = groupHistory();
const [dave, erin] = [groupPerson(0x24, 'Dave'), groupPerson(0x25, 'Erin')];
const [e0, e1, e2, e3] = epochs as [EpochStatement, EpochStatement, EpochStatement, EpochStatement];
const e4 = nextStatement(e3, alice, [memberOf(alice), memberOf(carol), memberOf(dave)], [addChange(e3, dave)]);
const e5 = nextStatement(e4, alice, [memberOf(alice), memberOf(carol), memberOf(dave), memberOf(erin)], [addChange(e4, erin)]);
const group = e2.group;

const pairedWith = (...peers: Array<{ peer: string }>) => (peer: string) => peers.some((person) => person.peer === peer);

t.test('copies: direct to every member the author is paired with, the rest through the creator', async (t) => {
  t.same(planCopies(e5, carol.peer, pairedWith(alice, dave, erin)), {
    copies: [
      { peer: dave.peer, relay: null },
      { peer: erin.peer, relay: null },
      { peer: alice.peer, relay: null },
    ],
    relayed: [],
    unreachable: [],
  }, 'all paired: the creator gets a plain copy');
  t.same(planCopies(e5, carol.peer, pairedWith(alice)), {
    copies: [{ peer: alice.peer, relay: [dave.peer, erin.peer] }],
    relayed: [dave.peer, erin.peer],
    unreachable: [],
  }, 'none paired but the creator: one copy, with the relay list');
  t.same(planCopies(e5, carol.peer, pairedWith(alice, erin)).copies, [
    { peer: erin.peer, relay: null },
    { peer: alice.peer, relay: [dave.peer] },
  ]);
  t.same(planCopies(e5, alice.peer, pairedWith(carol, dave, erin)), {
    copies: [
      { peer: carol.peer, relay: null },
      { peer: dave.peer, relay: null },
      { peer: erin.peer, relay: null },
    ],
    relayed: [],
    unreachable: [],
  }, 'the author is the creator: direct copies only');
  t.same(planCopies(e5, alice.peer, pairedWith(carol, dave)).unreachable, [erin.peer], 'a creator not paired with a member has nobody to relay through');
  t.same(planCopies(e5, carol.peer, pairedWith(dave)), { copies: [{ peer: dave.peer, relay: null }], relayed: [], unreachable: [alice.peer, erin.peer] }, 'the creator not paired (revoked): what needed it is unreachable');
  t.same(planCopies(e3, alice.peer, pairedWith(bob, carol)).copies, [{ peer: carol.peer, relay: null }], 'a member gone from the current epoch gets no copy');
  t.same(planCopies(e4, carol.peer, pairedWith(alice, bob)).copies, [{ peer: alice.peer, relay: [dave.peer] }], 'Bob, paired but gone, is not sent to');
});

/** Alice's node, the creator, at epoch `head` (up to 5), paired with every member. */
function creatorNode(t: Test, head: number): { store: GroupStore; order: GroupOrder } {
  const dir = tempDir(t);
  const store = GroupStore.open(dir, alice.peer, {}, () => new Date(GROUP_TIME));
  store.create(e0, alice.identity.publicKey);
  for (const statement of [e1, e2, e3, e4, e5].slice(0, head)) store.recordEpoch(group, statement);
  const log = GroupMessageLog.open(dir, {}, () => GROUP_TIME);
  t.teardown(() => log.close());
  const pinned = new Map([bob, carol, dave, erin].map((person) => [person.peer, person.identity.publicKey]));
  const order = new GroupOrder({ self: alice.peer, groups: store, log, peers: { pinnedKey: (peer) => pinned.get(peer) ?? null, isRevoked: () => false }, gapHoldMs: 1000, now: () => GROUP_TIME });
  return { store, order };
}

t.test('the creator relays a checked envelope to the current members the author named, and takes it itself', async (t) => {
  const { order } = creatorNode(t, 5);
  const envelope = envelopeBy(carol, e5, { id: '01'.repeat(16) });
  const result = await order.receive({ envelope, relay: [dave.peer, erin.peer] }, carol.peer);
  t.match(result, { verdict: 'delivered', relayTo: [dave.peer, erin.peer] });
  t.equal(result.delivered.length, 1, 'the creator is a member: the copy is its own too');
  t.match(await order.receive({ envelope, relay: [dave.peer, erin.peer] }, carol.peer), { verdict: 'duplicate', relayTo: [dave.peer, erin.peer] }, 'a replay after a crash before the ack relays again: receivers drop it by seq');
});

t.test('the creator relays only to members of the current epoch', async (t) => {
  const { order } = creatorNode(t, 3);
  // Carol wrote at epoch 2, when Bob was a member; he left at 3.
  const envelope = envelopeBy(carol, e2, { id: '02'.repeat(16) });
  t.match(await order.receive({ envelope, relay: [bob.peer] }, carol.peer), { verdict: 'delivered', relayTo: [] });
});

t.test('the creator refuses to relay a forged envelope, a non-member author and an epoch it never issued', async (t) => {
  const { order } = creatorNode(t, 4);
  const forged = { ...envelopeBy(carol, e4, { id: '03'.repeat(16) }), content: 'changed on the way' };
  t.match(await order.receive({ envelope: forged, relay: [dave.peer] }, carol.peer), { verdict: 'refused', refusal: 'bad_signature', chargeable: true, relayTo: [] });
  const outsider = envelopeBy(erin, e4, { id: '04'.repeat(16) });
  t.match(await order.receive({ envelope: outsider, relay: [dave.peer] }, erin.peer), { verdict: 'refused', refusal: 'author_not_member', chargeable: true, relayTo: [] }, 'Erin is no member of epoch 4');
  const future = envelopeBy(carol, e5, { id: '05'.repeat(16) });
  t.match(await order.receive({ envelope: future, relay: [dave.peer] }, carol.peer), { verdict: 'refused', refusal: 'future_epoch', chargeable: true, relayTo: [] });
  t.match(await order.receive({ envelope: envelopeBy(carol, e4, { id: '06'.repeat(16) }), relay: [dave.peer] }, dave.peer), { verdict: 'refused', refusal: 'bad_sender', relayTo: [] }, 'only the author or the creator hands an envelope over');
  t.same(order.counters(), { group_bad_signature: 1, group_author_not_member: 1, group_future_epoch: 1, group_bad_sender: 1 });
});

t.test('the key checked is the pinned one when paired with the author, else (or when her key changed since) the one the statement lists', async (t) => {
  const dir = tempDir(t);
  const store = GroupStore.open(dir, alice.peer);
  store.create(e0, alice.identity.publicKey);
  for (const statement of [e1, e2]) store.recordEpoch(group, statement);
  const stored = store.get(group);
  const signedByCarol = envelopeBy(carol, e2);
  const rotated = groupPerson(0x33, 'Carol');
  const signedByNewKey = envelopeBy({ ...rotated, peer: carol.peer }, e2);
  const facts = (key: Uint8Array | null) => ({ pinnedKey: () => key, isRevoked: () => false });
  t.match(checkEnvelope(signedByCarol, stored, alice.peer, facts(null)), { check: 'taken', statement: { epoch: 2 } }, 'not paired: the listed key');
  t.match(checkEnvelope(signedByNewKey, stored, alice.peer, facts(null)), { check: 'refused', refusal: 'bad_signature' });
  t.match(checkEnvelope(signedByNewKey, stored, alice.peer, facts(rotated.identity.publicKey)), { check: 'taken' }, 'paired after a rotation: the pinned key, fresher than the statement');
  t.match(
    checkEnvelope(signedByCarol, stored, alice.peer, facts(rotated.identity.publicKey)),
    { check: 'taken', statement: { epoch: 2 } },
    'signed before Carol rotated (resent, or relayed late): the key the epoch listed for her then',
  );
  const forged = envelopeBy(groupPerson(0x44, 'Mallory'), e2, { author: carol.peer });
  t.match(checkEnvelope(forged, stored, alice.peer, facts(rotated.identity.publicKey)), { check: 'refused', refusal: 'bad_signature' }, 'neither her pinned key nor the listed one: refused');
  t.match(checkEnvelope(envelopeBy(carol, e1, { epoch: 1 }), stored, alice.peer, facts(null)), { check: 'refused', refusal: 'author_not_member' }, 'Carol is no member of epoch 1');
});

t.test('a node checks that it is a member of the envelope epoch, and what it cannot check any more', async (t) => {
  const dir = tempDir(t);
  const store = GroupStore.open(dir, dave.peer, {}, () => new Date(GROUP_TIME));
  store.addInvite(signInviteStatement({ t: 'invite', group, invitee: dave.peer, epoch: 3, at: GROUP_TIME }, alice.identity), [e3], alice.identity.publicKey);
  const facts = { pinnedKey: () => null, isRevoked: () => false };
  t.match(checkEnvelope(envelopeBy(carol, e3), store.get(group), dave.peer, facts), { check: 'refused', refusal: 'not_member' }, 'invited only: takes nothing');
  // Dave accepted: the epoch that adds him carries the join he signed.
  for (const change of e4.changes) if (change.op === 'add' && change.peer === dave.peer) store.recordJoin(group, change.join);
  t.equal(store.recordEpoch(group, e4).outcome, 'applied');
  const stored = store.get(group);
  t.match(checkEnvelope(envelopeBy(carol, e3), stored, dave.peer, facts), { check: 'refused', refusal: 'self_not_member' }, 'epoch 3, before Dave joined');
  t.match(checkEnvelope(envelopeBy(carol, e2, { epoch: 2 }), stored, dave.peer, facts), { check: 'refused', refusal: 'self_not_member' }, 'an epoch before joining, no longer held');
  t.match(checkEnvelope(envelopeBy(carol, e4), stored, dave.peer, facts), { check: 'taken' });
  t.match(checkEnvelope(envelopeBy(carol, e5), stored, dave.peer, facts), { check: 'later' }, 'epoch 5 is not known yet');
});

t.test('after a crash between taking the seq and queuing every copy: the copies with no message id go again, to current members', async (t) => {
  const envelope = envelopeBy(carol, e4, { id: '07'.repeat(16) });
  const outgoing: OutgoingEnvelope = {
    envelope,
    copies: [
      { peer: dave.peer, relay: null, messageId: 'm-dave' },
      { peer: alice.peer, relay: [erin.peer, bob.peer], messageId: null },
      { peer: bob.peer, relay: null, messageId: null },
    ],
  };
  t.same(copiesToResend(outgoing, e5), [{ peer: alice.peer, relay: [erin.peer] }], 'Dave has his copy; Bob left meanwhile, also from the relay list');
  t.same(copiesToResend(outgoing, e4), [{ peer: alice.peer, relay: null }], 'no relay target left a member: the creator still gets its own copy');
  t.same(copiesToResend({ envelope, copies: outgoing.copies.map((copy) => ({ ...copy, messageId: 'queued' })) }, e5), [], 'every copy queued: nothing to send');
});

t.test('a member gone since: the creator relays none of its envelopes; others take only what it signed before the change', async (t) => {
  const store = GroupStore.open(tempDir(t), alice.peer);
  store.create(e0, alice.identity.publicKey);
  for (const statement of [e1, e2, e3]) store.recordEpoch(group, statement);
  const stored = store.get(group);
  const facts = { pinnedKey: () => null, isRevoked: () => false };
  const before = envelopeBy(bob, e2, { created_at: e3.at });
  const after = envelopeBy(bob, e2, { created_at: e3.at + 1 });
  t.match(checkEnvelope(before, stored, alice.peer, facts), { check: 'refused', refusal: 'author_not_current' }, 'at the creator, which issued the leave: refused, so never relayed');
  t.match(checkEnvelope(before, stored, carol.peer, facts), { check: 'taken', statement: { epoch: 2 } }, 'at a member: signed no later than the leave, taken');
  t.match(checkEnvelope(after, stored, carol.peer, facts), { check: 'refused', refusal: 'author_not_current' }, 'signed after the leave: refused');
  t.match(checkEnvelope(envelopeBy(carol, e2, { created_at: e3.at + 1 }), stored, alice.peer, facts), { check: 'taken' }, 'a member still in the group is not affected');
});
