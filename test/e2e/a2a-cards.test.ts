import { type AgentCard as SdkAgentCard, verifyAgentCardSignature } from '@a2a-js/sdk';
import t from 'tap';
import { DEFAULT_AGENT_CARD_LIMITS, normalizeAgentCard } from '../../extension/a2a/agent-card';
import { encodeCard, signCard, type SignedAgentCard } from '../../extension/a2a/signed-card';
import { peerIdFromPublicKey, publicKeyFromPeerId } from '../../extension/common/peer-id';
import { MSG_AGENT_CARD } from '../../extension/wire/session-messages';
import { sdkStyleCard } from '../helpers/agent-cards';
import { eventually, startNode, type TestNode } from '../helpers/node';
import { pairedRawPeer } from '../helpers/raw-peer';

async function addressOf(node: TestNode): Promise<string> {
  return ((await node.call('status'))['listening'] as { addresses: string[] }).addresses[0] as string;
}

async function peerCard(node: TestNode, peer: string): Promise<SignedAgentCard | null | undefined> {
  const peers = (await node.call('peers'))['peers'] as { peer: string; agent_card: SignedAgentCard | null }[];
  return peers.find((entry) => entry.peer === peer)?.agent_card;
}

async function networkRefusals(node: TestNode, reason: string): Promise<number> {
  return (((await node.call('status'))['refusals'] as { network: Record<string, number> }).network[reason] ?? 0);
}

/** What an A2A client does with a card it got: the SDK's verifier, with the key the card's interface names. */
function verifiedBySdk(card: SignedAgentCard, peerId: string): Promise<void> {
  const x = Buffer.from(publicKeyFromPeerId(peerId)).toString('base64url');
  return verifyAgentCardSignature(async () => ({ kty: 'OKP', crv: 'Ed25519', x }))(card as unknown as SdkAgentCard);
}

t.test('a card set on one node: shown with its pairing request, in peers once paired, and again after a change', async (t) => {
  const alice = await startNode(t);
  const bob = await startNode(t);
  const aId = (await alice.call('identity'))['peer_id'] as string;
  const bId = (await bob.call('identity'))['peer_id'] as string;
  t.match(await alice.call('a2a_card'), { peer: aId, agent_card: null }, 'no card until one is set');
  const set = await alice.call('a2a_set_card', { card: sdkStyleCard() });
  t.match(set, { peer: aId, changed: true, sent_to: 0 });
  const card = set['agent_card'] as SignedAgentCard;
  t.equal(card.name, 'Trip planner ✈');
  t.same(card.supportedInterfaces, [{ url: `p2p-comm://${aId}`, protocolBinding: 'urn:p2p-comm:a2a:v1', protocolVersion: '1.0' }]);

  await alice.call('pair', { link: (await bob.call('identity'))['link'] as string });
  type Incoming = { request_id: string; peer: string; agent_card: SignedAgentCard | null; agent_card_changes: number };
  const request = await eventually(async () => ((await bob.call('requests'))['incoming'] as Incoming[]).find((entry) => entry.peer === aId && entry.agent_card !== null), 'the requester’s card beside its request');
  t.same(request.agent_card, card, 'the card arrives with the pairing request, as signed');
  t.equal(request.agent_card_changes, 0);
  t.same((await bob.call('a2a_card', { peer: aId }))['agent_card'], card);
  const swapped = (await alice.call('a2a_set_card', { card: { ...sdkStyleCard(), name: 'Trip planner (new)' } }))['agent_card'];
  const repeated = await eventually(async () => ((await bob.call('requests'))['incoming'] as Incoming[]).find((entry) => entry.agent_card_changes === 1), 'the card a repeat of the request brings');
  t.same(repeated.agent_card, swapped, 'the request shows the latest card, and that it changed');
  await alice.call('a2a_set_card', { card: sdkStyleCard() });
  await eventually(async () => ((await bob.call('requests'))['incoming'] as Incoming[])[0]?.agent_card_changes === 2, 'changed back: counted again');

  const accepted = await bob.call('accept', { request_id: request.request_id, peer: aId });
  t.equal(accepted['connected'], true);
  t.same(await peerCard(bob, aId), card, 'once paired, peers shows the card');
  await t.resolves(verifiedBySdk((await peerCard(bob, aId)) as SignedAgentCard, aId), 'and the A2A SDK verifies it');
  t.equal(await peerCard(alice, bId), null, 'bob has set no card');
  t.match(((await bob.call('peers'))['peers'] as { capabilities: { capabilities: string[] } }[])[0]?.capabilities.capabilities, ['text', 'json', 'a2a', 'a2a-binding-v1']);

  const changed = await alice.call('a2a_set_card', { card: { ...sdkStyleCard(), description: 'Plans trips by boat too.' } });
  t.equal(changed['sent_to'], 1, 'sent to the connected peer at once');
  await eventually(async () => (await peerCard(bob, aId))?.description === 'Plans trips by boat too.', 'the changed card at bob, on the same session');
  t.ok(bob.events.some((event) => event.type === 'p2p.peer.card' && event.data['peer'] === aId && event.data['name'] === 'Trip planner ✈'), 'bob heard of the change');
  await bob.call('a2a_set_card', { card: { ...sdkStyleCard(), name: 'Bob’s desk' } });
  await eventually(async () => (await peerCard(alice, bId))?.name === 'Bob’s desk', 'bob’s card at alice');
  await alice.call('a2a_set_card', { card: null });
  await eventually(async () => (await peerCard(bob, aId)) === null, 'a withdrawn card is gone at bob');
  await bob.call('revoke', { peer: aId });
  await t.rejects(bob.call('a2a_card', { peer: aId }), /not_found/, 'revoked: its card is gone with it');
});

t.test('a tampered or forged card is refused, counted and charged; the card shown stays', async (t) => {
  const bob = await startNode(t);
  const bId = (await bob.call('identity'))['peer_id'] as string;
  const mallory = await pairedRawPeer(bob, await addressOf(bob), bId, 'mallory');
  const signer = { ...mallory.identity, peerId: mallory.peerId };
  const honest = signCard(normalizeAgentCard(sdkStyleCard()), signer, DEFAULT_AGENT_CARD_LIMITS.maxCardBytes);
  mallory.channel.send(MSG_AGENT_CARD, encodeCard(honest));
  await eventually(async () => (await peerCard(bob, mallory.peerId))?.name === honest.name, 'mallory’s honest card shown');

  const tampered = Buffer.from(Buffer.from(encodeCard(honest)).toString('utf8').replace('never pays', 'always pays'));
  mallory.channel.send(MSG_AGENT_CARD, tampered);
  await eventually(async () => (await networkRefusals(bob, 'agent_card_bad_signature')) === 1, 'the tampered card counted');
  const someoneElse = { ...mallory.identity, peerId: peerIdFromPublicKey(publicKeyFromPeerId(bId)) };
  mallory.channel.send(MSG_AGENT_CARD, encodeCard(signCard(normalizeAgentCard({ ...sdkStyleCard(), name: 'Bob himself' }), someoneElse, 16_384)));
  await eventually(async () => (await networkRefusals(bob, 'agent_card_bad_header')) === 1, 'a card in another node’s name counted');
  mallory.channel.send(MSG_AGENT_CARD, Buffer.from('{"name":'));
  await eventually(async () => (await networkRefusals(bob, 'agent_card_malformed')) === 1, 'bytes that are no card counted');
  t.same(await peerCard(bob, mallory.peerId), honest, 'the honest card is still the one shown');
  t.equal(mallory.channel.isOpen, true, 'a few refusals stay within the budget: the session stays');
});
