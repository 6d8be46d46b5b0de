import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULT_AGENT_CARD_LIMITS, normalizeAgentCard } from '../../extension/a2a/agent-card';
import { CARDS_FILE_NAME, CardStore } from '../../extension/a2a/card-store';
import { signCard, type SignedAgentCard } from '../../extension/a2a/signed-card';
import { cardSigner, sdkStyleCard } from '../helpers/agent-cards';
import { tempDir } from '../helpers/extension';

const limits = DEFAULT_AGENT_CARD_LIMITS;
const own = normalizeAgentCard(sdkStyleCard());
const alice = cardSigner();
const aliceCard = signCard(own, alice, limits.maxCardBytes);
const aliceLater = signCard({ ...own, description: 'Plans trips, now by boat too.' }, alice, limits.maxCardBytes);
const T1 = new Date('2026-11-30T10:00:00.000Z');
const T2 = new Date('2026-11-30T11:00:00.000Z');

/** The file's inode: writeFileAtomic replaces the file, so an unchanged inode means nothing was written. */
const inodeOf = (dir: string): number => statSync(join(dir, CARDS_FILE_NAME)).ino;

t.test('the own card survives a restart, in a private file; setting the same one writes nothing', async (t) => {
  const dir = tempDir(t);
  const store = CardStore.open(dir, limits);
  t.equal(store.ownCard(), null);
  t.equal(store.setOwnCard(own, T1), true);
  t.equal(statSync(join(dir, CARDS_FILE_NAME)).mode & 0o777, 0o600);
  const written = inodeOf(dir);
  t.equal(store.setOwnCard(structuredClone(own), T2), false);
  t.equal(inodeOf(dir), written);
  const reopened = CardStore.open(dir, limits);
  t.same(reopened.ownCard(), own);
  t.same(reopened.upgradeNotes, []);
  t.match(JSON.parse(readFileSync(join(dir, CARDS_FILE_NAME), 'utf8')), { version: 1, own: { card: own, updated_at: T1.toISOString() }, peers: {} });
  t.equal(reopened.setOwnCard(null), true, 'withdrawn');
  t.equal(CardStore.open(dir, limits).ownCard(), null);
});

t.test('a paired peer’s card: new, the same again (nothing written), changed, withdrawn', async (t) => {
  const dir = tempDir(t);
  const store = CardStore.open(dir, limits);
  t.equal(store.record(alice.peerId, null, false), 'unchanged', 'no card, none kept: nothing to do');
  t.equal(store.record(alice.peerId, aliceCard, false, T1), 'new');
  const written = inodeOf(dir);
  t.equal(store.record(alice.peerId, structuredClone(aliceCard), false, T2), 'unchanged', 'sent again at a reconnect');
  t.equal(inodeOf(dir), written, 'and not written again');
  t.same(store.peerCard(alice.peerId), { card: aliceCard, receivedAt: T1, changes: 0 });
  t.equal(store.record(alice.peerId, aliceLater, false, T2), 'changed');
  t.same(CardStore.open(dir, limits).peerCard(alice.peerId), { card: aliceLater, receivedAt: T2, changes: 0 }, 'kept across a restart');
  t.equal(store.record(alice.peerId, null, false), 'changed', 'withdrawn');
  t.equal(store.peerCard(alice.peerId), undefined, 'a paired peer without a card has no entry');
});

t.test('a request’s card: each change counted, a withdrawal leaves a trace; the count starts over once paired', async (t) => {
  const dir = tempDir(t);
  const store = CardStore.open(dir, limits);
  t.equal(store.record(alice.peerId, aliceCard, true, T1), 'new');
  t.equal(store.record(alice.peerId, aliceCard, true, T1), 'unchanged', 'a repeat of the request with the same card');
  t.equal(store.record(alice.peerId, aliceLater, true, T2), 'changed');
  t.equal(store.peerCard(alice.peerId)?.changes, 1);
  t.equal(store.record(alice.peerId, null, true, T2), 'changed');
  t.same(store.peerCard(alice.peerId), { card: null, receivedAt: T2, changes: 2 }, 'no card now, and the changes are not forgotten');
  t.equal(store.record(alice.peerId, aliceLater, true, T2), 'changed');
  t.equal(store.peerCard(alice.peerId)?.changes, 3);
  t.equal(store.record(alice.peerId, aliceLater, false, T2), 'unchanged', 'paired: its session sends the same card');
  t.equal(store.peerCard(alice.peerId)?.changes, 0);
});

t.test('remove and retainOnly drop entries', async (t) => {
  const dir = tempDir(t);
  const store = CardStore.open(dir, limits);
  const bob = cardSigner();
  store.record(alice.peerId, aliceCard, false);
  store.record(bob.peerId, signCard(own, bob, limits.maxCardBytes), true);
  store.retainOnly((peerId) => peerId === bob.peerId);
  t.equal(store.peerCard(alice.peerId), undefined);
  t.ok(store.peerCard(bob.peerId));
  store.remove(bob.peerId);
  store.remove(bob.peerId);
  t.same(JSON.parse(readFileSync(join(dir, CARDS_FILE_NAME), 'utf8')).peers, {});
});

t.test('opening checks every card again: one that no longer passes is dropped with a note', async (t) => {
  const dir = tempDir(t);
  const store = CardStore.open(dir, limits);
  store.setOwnCard(own);
  store.record(alice.peerId, aliceCard, false);
  const bob = cardSigner();
  store.record(bob.peerId, signCard(own, bob, limits.maxCardBytes), false);
  const path = join(dir, CARDS_FILE_NAME);
  const file = JSON.parse(readFileSync(path, 'utf8'));
  (file.peers[alice.peerId].card as SignedAgentCard).description = 'Edited on disk';
  writeFileSync(path, JSON.stringify(file));
  const reopened = CardStore.open(dir, limits);
  t.equal(reopened.peerCard(alice.peerId), undefined, 'a card its signature no longer covers');
  t.ok(reopened.peerCard(bob.peerId)?.card, 'the others stay');
  t.match(reopened.upgradeNotes, [new RegExp(`the agent card of ${alice.peerId} no longer passes`)]);
  t.same(CardStore.open(dir, limits).upgradeNotes, [], 'the file was rewritten: the note is said once');

  const smaller = { ...limits, maxDescriptionLength: 20 };
  const shrunk = CardStore.open(dir, smaller);
  t.equal(shrunk.ownCard(), null, 'the own card breaks the lowered limits');
  t.equal(shrunk.peerCard(bob.peerId), undefined, 'so does the peer’s');
  t.match(shrunk.upgradeNotes, [/own agent card no longer follows the card rules.*a2a_set_card/, /agent card of .* no longer passes/]);
});

t.test('a file that is not the format stops the start, naming the file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, CARDS_FILE_NAME);
  for (const content of ['{', '{"version":2,"own":null,"peers":{}}', '{"version":1,"own":null,"peers":{"nobody":{}}}', '{"version":1,"own":null,"peers":{},"extra":1}']) {
    writeFileSync(path, content);
    t.throws(() => CardStore.open(dir, limits), { errorName: 'STATE_FILE_CORRUPT', message: /the agent cards file .*a2a_cards\.json is corrupt/ }, content);
  }
  writeFileSync(path, `{"version":1,"own":null,"peers":{"${alice.peerId}":{"card":{"name":"\\ud800","x":${'['.repeat(5000)}${']'.repeat(5000)}},"received_at":"2026-11-30T10:00:00.000Z","changes":0}}}`);
  t.equal(CardStore.open(dir, limits).peerCard(alice.peerId), undefined, 'a lone surrogate and deep nesting are a card that fails, not a crash');
});
