import t from 'tap';
import { DEFAULT_AGENT_CARD_LIMITS, normalizeAgentCard } from '../../extension/a2a/agent-card';
import { AgentCards } from '../../extension/a2a/agent-cards';
import { CardStore } from '../../extension/a2a/card-store';
import { encodeCard, signCard } from '../../extension/a2a/signed-card';
import { publicKeyFromPeerId } from '../../extension/common/peer-id';
import type { OutgoingEvent } from '../../extension/events/outbox';
import type { NodeIdentity } from '../../extension/identity/node-identity';
import type { TrustState } from '../../extension/trust/trust-store';
import { MSG_AGENT_CARD } from '../../extension/wire/session-messages';
import { cardSigner, sdkStyleCard } from '../helpers/agent-cards';
import { tempDir } from '../helpers/extension';
import type { Teardown } from '../helpers/teardown';

const limits = DEFAULT_AGENT_CARD_LIMITS;
const card = normalizeAgentCard(sdkStyleCard());

/** A node's agent cards over a real store and a network, trust and pending list the test drives. */
function cardsNode(t: Teardown, dir = tempDir(t)) {
  const me = cardSigner();
  const clock = { now: 1_900_000_000_000 };
  const sent: [string, number, Uint8Array][] = [];
  const refused: [string, string, boolean][] = [];
  const events: OutgoingEvent[] = [];
  const warnings: string[] = [];
  const states = new Map<string, TrustState>();
  const online = new Set<string>();
  const requests = new Set<string>();
  /** The current key a rotated requester's request was stored with. */
  const requestKeys = new Map<string, Uint8Array>();
  /** The current key of each peer that rotated; the others sign with the key their id names. */
  const rotatedKeys = new Map<string, Uint8Array>();
  const store = CardStore.open(dir, limits);
  const cards = new AgentCards({
    identity: { ...me, fingerprint: '', dhtSeed: new Uint8Array(32) } as NodeIdentity,
    store,
    network: {
      sendTo: (peer, type, body) => {
        if (!online.has(peer)) return false;
        sent.push([peer, type, body as Uint8Array]);
        return true;
      },
      isOnline: (peer) => online.has(peer),
      refuse: (peer, reason, charged = true) => void refused.push([peer, reason, charged]),
    },
    trust: {
      list: () => [...states].map(([peerId, state]) => ({ peerId, state }) as never),
      stateOf: (peer) => states.get(peer),
      isTrusted: (peer) => states.get(peer) === 'trusted',
      keyOf: (peer) => rotatedKeys.get(peer) ?? publicKeyFromPeerId(peer),
    },
    pending: { findIncomingByPeer: (peer) => (requests.has(peer) ? ({ peerId: peer, publicKey: requestKeys.get(peer) } as never) : undefined) },
    events: { enqueue: (event) => void events.push(event) },
    logger: { debug: () => undefined, info: () => undefined, warn: (line) => void warnings.push(line), error: () => undefined },
    limits,
    rate: { burst: 4, perMinute: 10 },
    now: () => clock.now,
  });
  return { me, cards, store, sent, refused, events, warnings, states, online, requests, requestKeys, rotatedKeys, dir, clock };
}

t.test('the own card: signed, sent to every connected paired peer at once, and after the hello of each session', async (t) => {
  const node = cardsNode(t);
  const [alice, bob, carol] = [cardSigner(), cardSigner(), cardSigner()];
  node.states.set(alice.peerId, 'trusted').set(bob.peerId, 'trusted').set(carol.peerId, 'revoked_by_peer');
  node.online.add(alice.peerId).add(carol.peerId);
  const set = node.cards.setOwnCard(sdkStyleCard());
  t.same(set, { card: signCard(card, node.me, limits.maxCardBytes), changed: true, sentTo: 1 });
  t.same(node.sent.map(([peer, type]) => [peer, type]), [[alice.peerId, MSG_AGENT_CARD]], 'the connected paired peer only');
  t.same(node.sent[0]?.[2], encodeCard(set.card!));
  t.same(node.cards.setOwnCard(sdkStyleCard()), { card: set.card, changed: false, sentTo: 0 }, 'the same card again: nothing sent');
  node.online.add(bob.peerId);
  node.cards.opened(bob.peerId);
  t.same(node.sent[1]?.[2], encodeCard(set.card!), 'a session that opens gets it');
  t.same(node.cards.cardForRequest(), encodeCard(set.card!), 'and a pair request this node makes');
  t.same(node.cards.setOwnCard(null), { card: null, changed: true, sentTo: 2 });
  t.same(node.sent.slice(2).map(([, , body]) => body.length), [0, 0], 'withdrawn: an empty body tells them');
  t.throws(() => node.cards.setOwnCard({ ...sdkStyleCard(), skills: [] }), { errorName: 'INVALID_INPUT', message: /card\.skills/ });
  t.equal(node.cards.ownCard(), null, 'a refused card leaves the old state');
});

t.test('a paired peer’s card: kept, announced once, refused tampering charged and the old card kept', async (t) => {
  const node = cardsNode(t);
  const alice = cardSigner();
  node.states.set(alice.peerId, 'trusted');
  const body = encodeCard(signCard(card, alice, limits.maxCardBytes));
  node.cards.message(alice.peerId, body);
  t.same(node.cards.cardOf(alice.peerId)?.card, signCard(card, alice, limits.maxCardBytes));
  t.same(node.events, [{ type: 'p2p.peer.card', subject: alice.peerId, data: { peer: alice.peerId, name: card.name } }]);
  node.cards.message(alice.peerId, body);
  t.equal(node.events.length, 1, 'the same card at the next session is no news');
  const tampered = Buffer.from(Buffer.from(body).toString('utf8').replace('Plans trips', 'Pays trips'));
  node.cards.message(alice.peerId, tampered);
  t.same(node.refused, [[alice.peerId, 'agent_card_bad_signature', true]], 'counted and charged to the peer');
  t.ok(node.cards.cardOf(alice.peerId)?.card, 'the card kept before stays');
  node.cards.message(alice.peerId, encodeCard(signCard(card, cardSigner(), limits.maxCardBytes)));
  t.same(node.refused[1], [alice.peerId, 'agent_card_bad_header', true], 'another node’s card, forwarded');
  node.clock.now += 60_000;
  node.cards.message(alice.peerId, new Uint8Array(0));
  t.equal(node.cards.cardOf(alice.peerId), undefined, 'an empty body withdraws it');
  t.same(node.events[1], { type: 'p2p.peer.card', subject: alice.peerId, data: { peer: alice.peerId, name: null } });
  const stranger = cardSigner();
  node.cards.message(stranger.peerId, encodeCard(signCard(card, stranger, limits.maxCardBytes)));
  t.equal(node.cards.cardOf(stranger.peerId), undefined, 'nothing from a peer that is not paired');
});

t.test('a requester’s card: kept beside its request, not charged when refused, gone with the request', async (t) => {
  const node = cardsNode(t);
  const alice = cardSigner();
  node.cards.cardWithRequest(alice.peerId, encodeCard(signCard(card, alice, limits.maxCardBytes)));
  t.equal(node.cards.cardOf(alice.peerId), undefined, 'no request, no card');
  node.requests.add(alice.peerId);
  node.cards.cardWithRequest(alice.peerId, encodeCard(signCard(card, alice, limits.maxCardBytes)));
  t.equal(node.cards.cardOf(alice.peerId)?.changes, 0);
  node.cards.cardWithRequest(alice.peerId, encodeCard(signCard({ ...card, name: 'Bank' }, alice, limits.maxCardBytes)));
  t.same([node.cards.cardOf(alice.peerId)?.card?.name, node.cards.cardOf(alice.peerId)?.changes], ['Bank', 1], 'a repeat with another card is counted');
  t.same(node.events, [], 'a requester’s card is shown with its request, not announced');
  node.cards.cardWithRequest(alice.peerId, Buffer.from('{'));
  t.same(node.refused, [[alice.peerId, 'agent_card_malformed', false]], 'counted, not charged: a stranger has no budget');
  node.requests.delete(alice.peerId);
  t.equal(node.cards.cardOf(alice.peerId), undefined, 'the request expired: not shown');
  const bob = cardSigner();
  node.states.set(bob.peerId, 'trusted');
  node.cards.message(bob.peerId, encodeCard(signCard(card, bob, limits.maxCardBytes)));
  t.equal(node.store.peerCard(alice.peerId), undefined, 'and dropped from the file at the next change');
  node.cards.forget(bob.peerId);
  t.equal(node.cards.cardOf(bob.peerId), undefined, 'revoked: forgotten');
});

t.test('an own card the lowered size limit no longer allows is dropped at start, with a warning', async (t) => {
  const dir = tempDir(t);
  const first = cardsNode(t, dir);
  first.cards.setOwnCard(sdkStyleCard());
  const store = CardStore.open(dir, { ...limits, maxCardBytes: 1024 });
  const warnings: string[] = [];
  const cards = new AgentCards({
    identity: { ...first.me, fingerprint: '', dhtSeed: new Uint8Array(32) } as NodeIdentity,
    store,
    network: { sendTo: () => false, isOnline: () => false, refuse: () => undefined },
    trust: { list: () => [], stateOf: () => undefined, isTrusted: () => false, keyOf: publicKeyFromPeerId },
    pending: { findIncomingByPeer: () => undefined },
    events: { enqueue: () => undefined },
    logger: { debug: () => undefined, info: () => undefined, warn: (line) => void warnings.push(line), error: () => undefined },
    limits: { ...limits, maxCardBytes: 1024 },
    rate: { burst: 1, perMinute: 1 },
  });
  t.equal(cards.ownCard(), null);
  t.equal(store.ownCard(), null);
  t.match(warnings, [/agent card is no longer sent: .*peers accept at most 1024 .*a2a_set_card/]);
});

t.test('a paired peer’s card messages are rate limited before any signature check', async (t) => {
  const node = cardsNode(t);
  const alice = cardSigner();
  node.states.set(alice.peerId, 'trusted');
  const cards = ['A', 'B', 'C', 'D', 'E'].map((name) => encodeCard(signCard({ ...card, name }, alice, limits.maxCardBytes)));
  for (const body of cards) node.cards.message(alice.peerId, body);
  t.equal(node.cards.cardOf(alice.peerId)?.card?.name, 'D', 'the burst (4) taken');
  t.same(node.refused, [[alice.peerId, 'agent_card_rate_limited', true]], 'the fifth refused, counted and charged');
  node.clock.now += 6_000;
  node.cards.message(alice.peerId, cards[4] as Uint8Array);
  t.equal(node.cards.cardOf(alice.peerId)?.card?.name, 'E', 'one more after 6 s (10 a minute)');
});

t.test('a rotated peer’s card: signed by its current key it is kept; signed by its first key it is refused', async (t) => {
  const node = cardsNode(t);
  const alice = cardSigner();
  const current = cardSigner();
  node.states.set(alice.peerId, 'trusted');
  node.rotatedKeys.set(alice.peerId, current.publicKey);
  // The card names the peer id (its kid) and is signed by whichever key the signer holds.
  const byCurrentKey = signCard(card, { peerId: alice.peerId, sign: current.sign }, limits.maxCardBytes);
  node.cards.message(alice.peerId, encodeCard(signCard(card, alice, limits.maxCardBytes)));
  t.same(node.refused, [[alice.peerId, 'agent_card_bad_signature', true]], 'the first key no longer signs for the peer');
  t.equal(node.cards.cardOf(alice.peerId), undefined);
  node.cards.message(alice.peerId, encodeCard(byCurrentKey));
  t.same(node.cards.cardOf(alice.peerId)?.card, byCurrentKey, 'the current key’s card is kept');
  t.equal(node.refused.length, 1);
});

t.test('a rotated requester’s card is checked against the current key its request was stored with', async (t) => {
  const node = cardsNode(t);
  const carol = cardSigner();
  const current = cardSigner();
  node.requests.add(carol.peerId);
  node.requestKeys.set(carol.peerId, current.publicKey);
  node.cards.cardWithRequest(carol.peerId, encodeCard(signCard(card, carol, limits.maxCardBytes)));
  t.same(node.refused, [[carol.peerId, 'agent_card_bad_signature', false]], 'the root no longer signs for the requester (counted, not charged)');
  const byCurrentKey = signCard(card, { peerId: carol.peerId, sign: current.sign }, limits.maxCardBytes);
  node.cards.cardWithRequest(carol.peerId, encodeCard(byCurrentKey));
  t.same(node.cards.cardOf(carol.peerId)?.card, byCurrentKey, 'the current key’s card is kept with the request');
});
