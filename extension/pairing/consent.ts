import { randomBytes } from 'node:crypto';
import { P2pError } from '../common/errors';
import type { EventOutbox } from '../events/outbox';
import { fingerprintOf } from '../common/peer-id';
import { UNNAMED_PEER, validateDisplayName } from '../common/display-name';
import { TokenBucket } from '../common/token-bucket';
import type { RefusalCounters } from '../metrics/refusals';
import type { IncomingOutcome, PendingRequests } from '../trust/pending-requests';
import type { TrustStore } from '../trust/trust-store';
import { DecisionResult, RefusalReason, type Decision } from '../wire/decision';
import type { ChainMismatch, PeerProof } from '../wire/handshake';
import { Intent, type InitiatorPayload } from '../wire/handshake-payload';
import { verifyKeyChain, type RotationStatement } from '../wire/key-rotation';
import { claimedPeerId, PeerKeys } from './peer-keys';
import { changesSinceArrival } from './request-changes';

export interface ConsentOptions {
  consentBurst: number;
  consentPerMinute: number;
}

/**
 * Bilateral consent. A node trusts a peer once both people have consented:
 * this side by `pair` (an outgoing request) or `accept`, the other side by
 * proving, over an authenticated handshake, that it trusts us (a session
 * intent) or asked to pair with us (a pair request). An unknown key gets to
 * leave one bounded consent request, rate-limited, and nothing else; asking
 * again costs what asking first did.
 */
export class Consent {
  private readonly requestsFromStrangers: TokenBucket;
  /** Which key a known peer may prove, and what a refused one is reported as. */
  readonly keys: PeerKeys;

  constructor(
    private readonly trust: TrustStore,
    private readonly pending: PendingRequests,
    private readonly outbox: EventOutbox,
    private readonly refusals: RefusalCounters,
    options: ConsentOptions,
    now: () => number = Date.now,
  ) {
    this.keys = new PeerKeys(trust, outbox, refusals);
    this.requestsFromStrangers = new TokenBucket(options.consentBurst, options.consentPerMinute / 60, now);
  }

  /**
   * The responder's verdict on an authenticated initiator. `address` is
   * where it says it listens. The initiator is the peer its chain's root
   * names (its own key when it sent none): a peer this node knows must
   * prove the key pinned for it, or one its chain certifies from there.
   */
  decide(initiator: PeerProof<InitiatorPayload>, address: string | null): Decision {
    const { publicKey } = initiator;
    const keyChain = initiator.payload.keyChain;
    const payload = { ...initiator.payload, displayName: this.acceptableName(initiator.payload.displayName) };
    const peerId = this.keys.peerIdOf(publicKey, keyChain);
    // A key refused in a known peer's name is told no more than a stranger is.
    const refusedKey = this.trust.stateOf(peerId) === undefined ? null : this.keys.follow(peerId, publicKey, keyChain);
    if (refusedKey !== null) return this.refuseKey(peerId, publicKey, address, refusedKey);
    if (this.trust.isTrusted(peerId)) {
      this.trust.recordSeen(peerId, { ...(address === null ? {} : { address }), displayName: payload.displayName });
      this.pending.removeOutgoingForPeer(peerId);
      return open();
    }
    const outgoing = this.pending.findOutgoingByPeer(peerId);
    if (outgoing !== undefined) {
      const refused = this.keys.certifiesRequested(peerId, outgoing.publicKey, publicKey, keyChain);
      if (refused !== null) return this.refuseKey(peerId, publicKey, address, refused, outgoing.publicKey);
      // We asked them; now they either trust us or ask us back: both consented.
      this.completePairing(publicKey, payload.displayName, address === null ? [] : [address], keyChain);
      return open();
    }
    if (payload.intent === Intent.SESSION) return this.refuseSession(peerId);
    return this.takeRequest(publicKey, payload, address);
  }

  /**
   * A name from the network is a claim, shown to the user: one with control
   * or text-direction characters (which could forge lines or disguise
   * itself as another name) is replaced, and counted.
   */
  acceptableName(claimed: string): string {
    try {
      return validateDisplayName(claimed);
    } catch {
      this.refusals.count('network', 'invalid_display_name');
      return UNNAMED_PEER;
    }
  }

  /** Both sides consented: pin the key (with the chain that certifies it, once the peer rotated) and drop what was pending between us. */
  completePairing(publicKey: Uint8Array, displayName: string, addresses: readonly string[], keyChain: readonly RotationStatement[] = []): void {
    const peerId = claimedPeerId(publicKey, keyChain.length === 0 ? undefined : keyChain);
    this.trust.trust({ publicKey, displayName, addresses, keyChain });
    this.pending.removeOutgoingForPeer(peerId);
    const incoming = this.pending.findIncomingByPeer(peerId);
    if (incoming !== undefined) this.pending.removeIncoming(incoming.requestId);
    this.pending.clearRejection(peerId);
    this.outbox.enqueue({
      type: 'p2p.peer.paired',
      subject: peerId,
      data: { peer: peerId, fingerprint: fingerprintOf(publicKey), display_name: displayName },
    });
  }

  /**
   * The peer told us, authenticated, that its user revoked this node: the
   * pairing is over on its side, so it is over here too, until both people
   * pair again. Returns false when there was nothing to end (not trusted).
   */
  endedByPeer(peerId: string): boolean {
    if (!this.trust.isTrusted(peerId)) return false;
    const record = this.trust.markRevokedByPeer(peerId);
    this.outbox.enqueue({
      type: 'p2p.peer.revoked_by_peer',
      subject: peerId,
      data: { peer: peerId, fingerprint: fingerprintOf(record.publicKey), display_name: record.displayName },
    });
    return true;
  }

  private refuseKey(peerId: string, presented: Uint8Array, address: string | null, chain: ChainMismatch, expected?: Uint8Array): Decision {
    this.keys.refuseClaim(peerId, presented, address, chain, expected);
    return refuse(RefusalReason.NOT_TRUSTED);
  }

  /**
   * A peer this node revoked learns so, over the authenticated session, and
   * stops asking; a stranger learns nothing beyond "not trusted".
   */
  private refuseSession(peerId: string): Decision {
    if (this.trust.get(peerId)?.state === 'revoked') {
      this.refusals.count('network', 'revoked_session');
      return refuse(RefusalReason.REVOKED);
    }
    this.refusals.count('network', 'untrusted_session');
    return refuse(RefusalReason.NOT_TRUSTED);
  }

  private takeRequest(publicKey: Uint8Array, payload: InitiatorPayload, address: string | null): Decision {
    const { keyChain } = payload;
    const peerId = this.keys.peerIdOf(publicKey, keyChain);
    if (this.pending.isRejected(peerId)) {
      this.refusals.count('network', 'request_from_rejected_peer');
      return refuse(RefusalReason.REJECTED);
    }
    // A repeat is a full handshake too, and may change what the person is shown: it takes from the same budget.
    if (!this.requestsFromStrangers.take()) {
      this.refusals.count('network', 'consent_request_rate_limited');
      return refuse(RefusalReason.BUSY);
    }
    // A stranger's chain costs its signature checks only once the request took a token; one that does not hold is no request.
    const verdict = keyChain === undefined ? null : verifyKeyChain(keyChain);
    if (verdict !== null && !verdict.ok) {
      this.refusals.count('network', `consent_request_key_chain_${verdict.refusal}`);
      return refuse(RefusalReason.NOT_TRUSTED);
    }
    let outcome: IncomingOutcome;
    try {
      outcome = this.pending.receiveIncoming({
        requestId: Buffer.from(payload.requestId).toString('hex'),
        publicKey,
        ...(keyChain === undefined ? {} : { keyChain }),
        displayName: payload.displayName,
        address,
      });
    } catch (error) {
      // Request ids are random per request: a clash means a peer reused another's id.
      if (!(error instanceof P2pError) || error.errorName !== 'CONFLICT') throw error;
      this.refusals.count('network', 'consent_request_id_clash');
      return refuse(RefusalReason.BUSY);
    }
    if (outcome.kind === 'new' && outcome.evicted !== null) this.refusals.count('network', 'consent_request_evicted');
    // A new request, and every change to one, is news for the person; a repeat of the same claim is not.
    if (outcome.kind !== 'same') {
      const { request } = outcome;
      this.outbox.enqueue({
        type: 'p2p.peer.request',
        subject: peerId,
        data: {
          request_id: request.requestId,
          peer: peerId,
          fingerprint: fingerprintOf(publicKey),
          display_name: request.displayName,
          address: request.address,
          changed: changesSinceArrival(request),
        },
      });
    }
    return { result: DecisionResult.REQUEST_STORED, reason: RefusalReason.NONE };
  }
}

export function newRequestId(): Uint8Array {
  return new Uint8Array(randomBytes(16));
}

function open(): Decision {
  return { result: DecisionResult.SESSION_OPEN, reason: RefusalReason.NONE };
}

function refuse(reason: RefusalReason): Decision {
  return { result: DecisionResult.REFUSED, reason };
}
