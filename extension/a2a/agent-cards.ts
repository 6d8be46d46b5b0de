import { TokenBucket } from '../common/token-bucket';
import type { EventOutbox } from '../events/outbox';
import type { NodeIdentity } from '../identity/node-identity';
import type { Logger } from '../log';
import type { SessionMessageHandler } from '../messaging/messenger';
import type { PeerNetwork, RequestCardListener } from '../network/peer-network';
import type { PendingRequests } from '../trust/pending-requests';
import type { TrustStore } from '../trust/trust-store';
import { MSG_AGENT_CARD } from '../wire/session-messages';
import { type AgentCardLimits, normalizeAgentCard } from './agent-card';
import type { CardStore, RecordOutcome, StoredPeerCard } from './card-store';
import { decodeCard, encodeCard, signCard, type SignedAgentCard } from './signed-card';

export interface AgentCardsDeps {
  identity: NodeIdentity;
  store: CardStore;
  network: Pick<PeerNetwork, 'sendTo' | 'isOnline' | 'refuse'>;
  trust: Pick<TrustStore, 'list' | 'stateOf' | 'isTrusted' | 'keyOf'>;
  pending: Pick<PendingRequests, 'findIncomingByPeer'>;
  events: Pick<EventOutbox, 'enqueue'>;
  logger: Logger;
  limits: AgentCardLimits;
  /** Card messages accepted from one paired peer (A2aConfig.cardRate). */
  rate: { burst: number; perMinute: number };
  now?: () => number;
}

/** What a2a_set_card did. */
export interface OwnCardChange {
  card: SignedAgentCard | null;
  changed: boolean;
  /** Connected peers it went to at once; the others get it when they next connect. */
  sentTo: number;
}

const NO_CARD = new Uint8Array(0);

/**
 * The node's agent cards (docs/protocol.md §15, docs/a2a.md): its own,
 * signed with its identity and sent after the hello on every session and
 * to every connected peer when it changes, and with each pair request it
 * makes; and the cards peers send, checked, kept while they are paired or
 * their request waits, and shown as their own claims.
 *
 * A card is state, not a message: only the latest counts, so it travels as
 * a session message of its own (0x27), never through the outbox, which
 * would deliver stale versions to a peer that was away.
 */
export class AgentCards implements SessionMessageHandler, RequestCardListener {
  private own: SignedAgentCard | null = null;
  private ownBody: Uint8Array = NO_CARD;
  /** The key the card was signed with. */
  private signedWith: Uint8Array = new Uint8Array(0);
  /** Per paired peer that sent a card: bounded by the trust store, dropped with the pairing. */
  private readonly rates = new Map<string, TokenBucket>();

  constructor(private readonly deps: AgentCardsDeps) {
    const stored = deps.store.ownCard();
    if (stored === null) return;
    try {
      this.use(signCard(stored, deps.identity, deps.limits.maxCardBytes));
    } catch (error) {
      // The size limit was lowered since the card was set: peers would refuse it.
      deps.logger.warn(`this node's agent card is no longer sent: ${(error as Error).message}; set a smaller one with a2a_set_card`);
      deps.store.setOwnCard(null);
    }
  }

  ownCard(): SignedAgentCard | null {
    return this.own;
  }

  /**
   * Sets (or, with null, withdraws) this node's card: normalized, signed,
   * written, then sent to every connected peer. Throws INVALID_INPUT naming
   * the field for a card that breaks the rules, and leaves the old one.
   */
  setOwnCard(input: unknown): OwnCardChange {
    const { store, identity, limits } = this.deps;
    const card = input === null ? null : normalizeAgentCard(input, limits);
    // Signed before it is stored: a card too large once signed is refused without a trace.
    const signed = card === null ? null : signCard(card, identity, limits.maxCardBytes);
    if (!store.setOwnCard(card)) return { card: this.own, changed: false, sentTo: 0 };
    this.use(signed);
    let sentTo = 0;
    for (const peer of this.deps.trust.list()) {
      if (peer.state === 'trusted' && this.deps.network.sendTo(peer.peerId, MSG_AGENT_CARD, this.ownBody)) sentTo += 1;
    }
    return { card: signed, changed: true, sentTo };
  }

  /** The card a paired peer or a requester sent, while it is one; undefined when it sent none. */
  cardOf(peerId: string): StoredPeerCard | undefined {
    return this.keepsCardOf(peerId) ? this.deps.store.peerCard(peerId) : undefined;
  }

  /** A card is kept for a peer that is paired (or revoked this node: it is still listed) or whose request waits. */
  keepsCardOf(peerId: string): boolean {
    const state = this.deps.trust.stateOf(peerId);
    return state === 'trusted' || state === 'revoked_by_peer' || this.deps.pending.findIncomingByPeer(peerId) !== undefined;
  }

  /** The pairing or the request is over: its card goes with it. */
  forget(peerId: string): void {
    this.rates.delete(peerId);
    this.deps.store.remove(peerId);
  }

  // SessionMessageHandler: sessions exist only with paired peers.

  opened(peerId: string): void {
    this.deps.network.sendTo(peerId, MSG_AGENT_CARD, this.currentBody());
  }

  message(peerId: string, body: Uint8Array): void {
    if (!this.deps.trust.isTrusted(peerId)) return;
    // Before the signature check: past its rate a peer's cards cost nothing but the count.
    if (!this.rateOf(peerId).take()) {
      this.deps.network.refuse(peerId, 'agent_card_rate_limited');
      return;
    }
    this.receive(peerId, body, false);
  }

  // RequestCardListener

  cardForRequest(): Uint8Array {
    return this.ownBody;
  }

  cardWithRequest(peerId: string, body: Uint8Array): void {
    // The request was stored a moment ago; gone already only if a flood of newer ones evicted it.
    if (this.deps.pending.findIncomingByPeer(peerId) === undefined) return;
    this.receive(peerId, body, true);
  }

  private use(signed: SignedAgentCard | null): void {
    this.own = signed;
    this.ownBody = signed === null ? NO_CARD : encodeCard(signed);
    this.signedWith = this.deps.identity.publicKey;
  }

  /** After a key rotation the card is signed again: peers check it against the current key. */
  private currentBody(): Uint8Array {
    const { identity, limits, store } = this.deps;
    const card = store.ownCard();
    if (card !== null && Buffer.compare(this.signedWith, identity.publicKey) !== 0) this.use(signCard(card, identity, limits.maxCardBytes));
    return this.ownBody;
  }

  /**
   * A refused card changes nothing (the one kept stays) and is counted as
   * `agent_card_<reason>`; from a paired peer it is charged to its refusal
   * budget like any other refused input, while a requester is bounded by
   * the consent rate instead.
   */
  private receive(peerId: string, body: Uint8Array, withRequest: boolean): void {
    const { store, network, events, logger, limits } = this.deps;
    // A requester that rotated is kept under its root's id with its current key, which signs its card.
    const signer = (withRequest ? this.deps.pending.findIncomingByPeer(peerId)?.publicKey : undefined) ?? this.deps.trust.keyOf(peerId);
    const card = body.length === 0 ? null : decodeCard(body, peerId, limits, signer);
    if (typeof card === 'string') {
      network.refuse(peerId, `agent_card_${card}`, !withRequest);
      logger.debug(`${peerId} sent an agent card that was refused (${card}); the card kept for it stays`);
      return;
    }
    let outcome: RecordOutcome;
    try {
      outcome = store.record(peerId, card, withRequest);
      if (outcome !== 'unchanged') store.retainOnly((other) => this.keepsCardOf(other));
    } catch (error) {
      logger.error(`cannot keep the agent card of ${peerId}: ${(error as Error).message}; it is shown again once the peer sends it again`);
      return;
    }
    if (outcome === 'unchanged') return;
    if (!withRequest) events.enqueue({ type: 'p2p.peer.card', subject: peerId, data: { peer: peerId, name: card?.name ?? null } });
  }

  private rateOf(peerId: string): TokenBucket {
    let bucket = this.rates.get(peerId);
    if (bucket === undefined) {
      const { rate, now } = this.deps;
      bucket = new TokenBucket(rate.burst, rate.perMinute / 60, now);
      this.rates.set(peerId, bucket);
    }
    return bucket;
  }
}
