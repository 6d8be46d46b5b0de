import t from 'tap';
import { fingerprintOf } from '../../extension/common/peer-id';
import { loadOrCreateIdentity, prepareRotation } from '../../extension/identity/node-identity';
import { TrustStore } from '../../extension/trust/trust-store';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';

/**
 * A paired peer that rotated its key, while both nodes were stopped, and
 * whose new key this node already follows (its trust record holds the
 * chain). The handshake this node starts, the messages and receipts both
 * ways, the fingerprints shown and a revocation notice all go by the
 * peer's current key; its peer id stays the same.
 */

interface PeerEntry {
  peer: string;
  state: string;
  fingerprint: string;
}

async function peerEntry(node: TestNode, peer: string): Promise<PeerEntry | undefined> {
  return ((await node.call('peers'))['peers'] as PeerEntry[]).find((entry) => entry.peer === peer);
}

async function delivered(node: TestNode, messageId: string): Promise<void> {
  await eventually(async () => (await node.call('message_status', { message_id: messageId }))['state'] === 'delivered', `delivery of ${messageId}`);
}

t.test('a peer that rotated: reached, messaged both ways and heard revoking under its current key, with its peer id unchanged', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  await Promise.all([alice.extension.shutdown(), bob.extension.shutdown()]);

  const rotation = prepareRotation(loadOrCreateIdentity(bob.dataDir));
  rotation.commit();
  const bobNow = rotation.next;
  t.equal(bobNow.peerId, bId, 'the rotation keeps the peer id');
  const trust = TrustStore.open(alice.dataDir);
  const applied = trust.applyKeyChain(bId, bobNow.keyChain);
  t.ok(applied.ok && applied.changed, 'alice follows the chain');
  trust.close();

  const alice2 = await startNode(t, { dataDir: alice.dataDir });
  const bob2 = await startNode(t, { dataDir: bob.dataDir });
  const toBob = (await alice2.call('send', { peer: bId, type: 'text', content: 'to the new key' }))['message_id'] as string;
  await delivered(alice2, toBob);
  const atBob = (await bob2.call('receive', { peer: aId }))['messages'] as { content: unknown }[];
  t.same(atBob.map((message) => message.content), ['to the new key']);

  const toAlice = (await bob2.call('send', { peer: aId, type: 'text', content: 'signed by the new key' }))['message_id'] as string;
  await delivered(bob2, toAlice);
  const atAlice = (await alice2.call('receive', { peer: bId }))['messages'] as { content: unknown; from: { peer: string; fingerprint: string } }[];
  t.same(atAlice.map((message) => message.content), ['signed by the new key']);
  t.same(atAlice[0]?.from.peer, bId);
  t.equal(atAlice[0]?.from.fingerprint, bobNow.fingerprint, 'the sender’s fingerprint is its current key’s');
  t.not(bobNow.fingerprint, fingerprintOf(bobNow.rootKey));
  t.equal((await peerEntry(alice2, bId))?.fingerprint, bobNow.fingerprint);

  t.match(await bob2.call('revoke', { peer: aId }), { peer: aId, state: 'revoked', notified: true });
  await eventually(async () => (await peerEntry(alice2, bId))?.state === 'revoked_by_peer', 'alice accepting the notice signed by bob’s current key');
  // The notice comes before the session closes; one checked against bob's first key would be counted here.
  const refusals = ((await alice2.call('status'))['refusals'] as { network: Record<string, number> }).network;
  t.same(Object.keys(refusals).filter((reason) => reason.startsWith('revocation_notice_')), [], 'the notice held');
});

t.test('a peer away while the other rotated follows at its next connection, from the chain in the handshake', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  await Promise.all([alice.extension.shutdown(), bob.extension.shutdown()]);

  // Bob rotates while alice is away; nobody tells alice's trust store.
  const rotation = prepareRotation(loadOrCreateIdentity(bob.dataDir));
  rotation.commit();
  const bobNow = rotation.next;

  const alice2 = await startNode(t, { dataDir: alice.dataDir });
  const bob2 = await startNode(t, { dataDir: bob.dataDir });
  await eventually(async () => (await peerEntry(alice2, bId))?.fingerprint === bobNow.fingerprint, 'alice to follow bob’s chain');
  const toBob = (await alice2.call('send', { peer: bId, type: 'text', content: 'after the rotation' }))['message_id'] as string;
  await delivered(alice2, toBob);
  const atBob = (await bob2.call('receive', { peer: aId }))['messages'] as { content: unknown }[];
  t.same(atBob.map((message) => message.content), ['after the rotation']);
  const toAlice = (await bob2.call('send', { peer: aId, type: 'text', content: 'from the new key' }))['message_id'] as string;
  await delivered(bob2, toAlice);
  const refusals = ((await alice2.call('status'))['refusals'] as { network: Record<string, number> }).network;
  t.notOk('key_mismatch' in refusals, 'no key refused on the way');
});
