import { P2pError } from '../common/errors';
import { fingerprintOf, peerIdFromPublicKey, publicKeyFromPeerId, publicKeyFromUntrustedPeerId } from '../common/peer-id';
import type { AttemptOutcome } from '../network/peer-network';
import { UNNAMED_PEER } from '../common/display-name';
import { newRequestId } from '../pairing/consent';
import { changesSinceArrival } from '../pairing/request-changes';
import { invalidPairingLink, parsePairingLink, type PairingLink } from '../common/pairing-link';
import { safetyNumber } from '../common/safety-number';
import type { PendingRequest } from '../trust/pending-requests';
import { decodeKeyChain, describeKeyChainRefusal, KeyChainFormatError, verifyKeyChain, type RotationStatement } from '../wire/key-rotation';
import type { OperationOutcome } from '../host/protocol';
import { agentCardOf } from './a2a';
import type { NodeContext, OperationHandler } from './context';

/**
 * Whom to ask and where: the link, the given address, or else the address
 * LAN discovery heard the peer announce. Whichever it is, the handshake
 * proves the key behind the peer id before anything is sent. The key is
 * checked here (or by parsePairingLink) as it enters: one that stands for
 * no one is never asked, stored or trusted.
 */
function targetOf(input: Record<string, unknown>, node: NodeContext): PairingLink {
  if (typeof input['link'] === 'string') {
    const link = parsePairingLink(input['link']);
    if (link.expiresAt !== null && link.expiresAt.getTime() < Date.now()) {
      throw new P2pError('INVALID_INPUT', `this pairing link expired at ${link.expiresAt.toISOString()}; ask for a fresh one`);
    }
    return link;
  }
  const peerId = input['peer'] as string;
  publicKeyFromUntrustedPeerId(peerId, 'peer');
  const address = input['address'] as string | undefined;
  if (address !== undefined) return { peerId, addresses: [address], displayName: UNNAMED_PEER, dhtBinding: null, expiresAt: null };
  const discovered = node.discovery.find(peerId);
  if (discovered === undefined) {
    throw new P2pError(
      'NOT_FOUND',
      `no address is known for peer ${peerId}: it is not among the nodes discovered on the local network (see discover); give its address or its pairing link`,
    );
  }
  return { peerId, addresses: [discovered.address], displayName: discovered.displayName, dhtBinding: null, expiresAt: null };
}

const PAIR_STATES: Record<AttemptOutcome, { state: string; message: string }> = {
  connected: { state: 'trusted', message: 'the peer had already agreed: you are paired and connected' },
  request_delivered: { state: 'delivered', message: 'request delivered; the other person must accept it' },
  rejected: { state: 'rejected', message: 'the other person refused this pairing' },
  not_trusted_by_peer: { state: 'queued', message: 'the peer refused the connection; retrying' },
  revoked_by_peer: { state: 'queued', message: 'the peer had revoked the pairing with this node; the request will be retried until it expires' },
  busy: { state: 'queued', message: 'the peer is busy; the request will be retried' },
  key_mismatch: { state: 'queued', message: 'the node at that address is NOT that peer (it proved another key); nothing was sent. Check the link or the address' },
  unreachable: { state: 'queued', message: 'the peer is not reachable now; the request will be retried until it expires' },
  needs_relay: {
    state: 'queued',
    message:
      'hole punching to the peer failed, as it does when both sides’ NATs change ports for every destination (or a router answers unsolicited packets itself): a relay is needed. ' +
      'Set P2P_COMM_RELAYS to a relay’s public key (docs/reach.md); the request is retried until it expires',
  },
  nothing_to_do: { state: 'queued', message: 'the request is stored' },
};

/** The link's DHT key, once its signatures hold (the peer's identity's and the key's own): a forged one could send the request elsewhere. */
function dhtAddressOf(target: PairingLink, publicKey: Uint8Array, node: NodeContext): string | null {
  if (target.dhtBinding === null) return null;
  const address = node.network.dht.addressFromBinding(target.dhtBinding, publicKey);
  if (address === null) {
    throw new P2pError('INVALID_INPUT', 'invalid pairing link: its DHT key is not signed both by the peer it names and by that key; ask the other person for a fresh link');
  }
  return address;
}

export const pair: OperationHandler = async (input, node) => {
  const target = targetOf(input, node);
  if (target.peerId === node.identity.peerId) {
    throw new P2pError('INVALID_INPUT', 'that is this node’s own peer id; pair with the other person’s link');
  }
  const { publicKey, chain } = linkKeyOf(target);
  if (node.trust.isTrusted(target.peerId)) return followLink(target.peerId, publicKey, chain, node);
  const keys = keysFor(publicKey, node);
  if (target.addresses.length === 0 && node.networkConfig.dht.mode === 'off') {
    throw new P2pError(
      'NOT_AVAILABLE',
      'this link reaches its node only through the DHT, which is off on this node (P2P_COMM_DHT=off); ' +
        'turn it on (P2P_COMM_DHT=connect dials without announcing this node), or ask for a link with an address',
    );
  }
  const request = node.pending.addOutgoing({
    requestId: Buffer.from(newRequestId()).toString('hex'),
    publicKey,
    keyChain: chain,
    displayName: target.displayName,
    address: target.addresses[0] ?? null,
    dhtAddress: dhtAddressOf(target, publicKey, node),
  });
  const outcome = PAIR_STATES[await node.network.attemptNow(target.peerId)];
  return {
    data: {
      request_id: request.requestId,
      peer: target.peerId,
      state: outcome.state,
      ...keys,
      address: request.address,
      dht_address: request.dhtAddress,
    },
    message: outcome.message,
  };
};

/** The key a link's node signs with now: the one its peer id names, or the end of the key chain it carries, checked here. */
function linkKeyOf(target: PairingLink): { publicKey: Uint8Array; chain: RotationStatement[] } {
  if (target.rotation === undefined) return { publicKey: publicKeyFromPeerId(target.peerId), chain: [] };
  let chain: RotationStatement[];
  try {
    chain = decodeKeyChain(target.rotation.chain);
  } catch (error) {
    if (error instanceof KeyChainFormatError) throw invalidPairingLink(`its key chain is not one (${error.message})`);
    throw error;
  }
  const verdict = verifyKeyChain(chain);
  if (!verdict.ok) {
    throw invalidPairingLink(`its key chain does not hold: ${describeKeyChainRefusal(verdict.refusal)} (statement ${verdict.index + 1})`, {
      path: '/link',
      rule: 'key_chain',
      reason: verdict.refusal,
    });
  }
  if (peerIdFromPublicKey(verdict.chain.root) !== target.peerId) throw invalidPairingLink('its key chain starts at another identity than the peer id it names');
  if (Buffer.compare(verdict.chain.currentKey, target.rotation.key) !== 0) throw invalidPairingLink('its key chain ends at another key than the current key it names');
  return { publicKey: target.rotation.key, chain };
}

/**
 * A link from a peer already paired: nothing to ask. When its chain carries
 * the peer on from the key pinned here (a rotation this node missed, say
 * while it was offline past the grace period), the pinned key follows, as
 * a handshake carrying the chain would have made it.
 */
function followLink(peerId: string, publicKey: Uint8Array, chain: readonly RotationStatement[], node: NodeContext): OperationOutcome {
  const pinned = node.trust.keyOf(peerId);
  const paired = (key: Uint8Array, message: string): OperationOutcome => ({
    data: { request_id: null, peer: peerId, state: 'trusted', ...keysFor(key, node) },
    message,
  });
  if (chain.length === 0 || Buffer.compare(pinned, publicKey) === 0) return paired(pinned, 'already paired');
  const applied = node.trust.applyKeyChain(peerId, chain);
  if (!applied.ok) {
    if (applied.refusal === 'older_chain') return paired(pinned, 'already paired; this link is older than the key this node holds for the peer, which rotated since');
    throw new P2pError(
      'CONFLICT',
      `${applied.message}. Nothing was changed: ask the other person, by another channel, for their fingerprint and a fresh link`,
      { reason: applied.refusal },
    );
  }
  const oldFingerprint = fingerprintOf(pinned);
  const fingerprint = fingerprintOf(publicKey);
  node.outbox.enqueue({
    type: 'p2p.peer.key_rotated',
    subject: peerId,
    data: { peer: peerId, old_fingerprint: oldFingerprint, new_fingerprint: fingerprint, seq: chain.length },
  });
  return {
    data: { request_id: null, peer: peerId, state: 'trusted', key_rotated: true, old_fingerprint: oldFingerprint, ...keysFor(publicKey, node) },
    message:
      `key change for this peer, signed by its previous key: ${oldFingerprint} → ${fingerprint}. ` +
      'Nothing to accept: the connection now expects the new key. The safety number changed: compare it with the other person again',
  };
}

/** What two people compare for a key: its fingerprint, and the safety number of the pair. */
function keysFor(publicKey: Uint8Array, node: NodeContext): { fingerprint: string; safety_number: string } {
  return { fingerprint: fingerprintOf(publicKey), safety_number: safetyNumber(node.identity.publicKey, publicKey) };
}

function describe(request: PendingRequest, node: NodeContext): Record<string, unknown> {
  return {
    request_id: request.requestId,
    peer: request.peerId,
    fingerprint: fingerprintOf(request.publicKey),
    safety_number: safetyNumber(node.identity.publicKey, request.publicKey),
    display_name: request.displayName,
    address: request.address,
    created_at: request.createdAt.toISOString(),
    expires_at: request.expiresAt.toISOString(),
  };
}

export const requests: OperationHandler = async (_input, node) => ({
  data: {
    incoming: node.pending.incoming().map((request) => ({
      ...describe(request, node),
      changed: changesSinceArrival(request),
      agent_card: agentCardOf(node, request.peerId),
      agent_card_changes: node.cards.cardOf(request.peerId)?.changes ?? 0,
    })),
    outgoing: node.pending.outgoing().map((request) => ({
      ...describe(request, node),
      state: request.state,
      attempts: request.attempts,
      last_error: request.lastError,
    })),
  },
  message: null,
});

function incomingRequest(node: NodeContext, requestId: string): PendingRequest {
  const request = node.pending.findIncoming(requestId);
  if (request === undefined) {
    throw new P2pError('NOT_FOUND', `no pending request ${requestId}; list them with the requests operation`);
  }
  return request;
}

/**
 * `peer` is accept's scope key: the host checks it against its scope rules
 * and shows its fingerprint in the dialog. The request must come from that
 * very peer, or the person would consent to one peer and pair with another.
 */
function requestFromNamedPeer(node: NodeContext, requestId: string, peer: string): PendingRequest {
  // A request stored by an earlier build may come from a key that stands for no one: never trusted.
  publicKeyFromUntrustedPeerId(peer, 'peer');
  const request = incomingRequest(node, requestId);
  if (request.peerId !== peer) {
    throw new P2pError(
      'PEER_MISMATCH',
      `pending request ${requestId} came from another peer, not from ${peer}; nothing was accepted. ` +
        'Check the request’s peer and fingerprint with the requests operation',
    );
  }
  return request;
}

export const accept: OperationHandler = async (input, node) => {
  const request = requestFromNamedPeer(node, input['request_id'] as string, input['peer'] as string);
  // The name and address the request arrived with, never a later claim: they are what the consent dialog
  // names the peer by (a change is shown beside them), and unlike the latest claim they cannot move between
  // the dialog and this call, so the person never trusts a name they were not shown.
  node.consent.completePairing(request.publicKey, request.displayName, request.address === null ? [] : [request.address], request.keyChain);
  const outcome = request.address === null ? 'nothing_to_do' : await node.network.attemptNow(request.peerId);
  const connected = outcome === 'connected';
  return {
    data: { peer: request.peerId, state: 'trusted', connected, safety_number: safetyNumber(node.identity.publicKey, request.publicKey) },
    message: connected
      ? 'paired and connected'
      : outcome === 'needs_relay'
        ? 'paired; hole punching to the peer failed from here, so the connection is made when the peer calls (through its relay, if it has one), or once P2P_COMM_RELAYS names a relay here'
        : 'paired; the connection is made as soon as the peer is reachable',
  };
};

export const reject: OperationHandler = async (input, node) => {
  const request = incomingRequest(node, input['request_id'] as string);
  node.pending.removeIncoming(request.requestId);
  node.pending.recordRejection(request.peerId);
  node.cards.forget(request.peerId);
  return { data: { peer: request.peerId, state: 'rejected' }, message: null };
};
