import { P2pError } from '../../common/errors';
import { fingerprintOf } from '../../common/peer-id';
import { safetyNumber } from '../../common/safety-number';
import type { PendingOutgoing } from '../../trust/pending-requests';
import type { TrustedPeerRecord } from '../../trust/trust-store';
import { agentCardOf } from '../a2a';
import type { NodeContext } from '../context';
import { pair } from '../pairing';
import { capabilitiesOf, revoke } from '../peers';
import type { ResourceRow, ResourceType } from './resource-type';

/**
 * `peers`: the paired peers (and those that revoked this node, so the
 * person sees why they went quiet), and the peers this node asked to pair
 * with, whose row shows the request's state until the other person
 * accepts. Adding one pairs by link; editing one sets the person's own
 * note about it; deleting one revokes it, or withdraws the request. The
 * name is the one the peer chose: its column says so, and the note beside
 * it is the person's own words.
 */
/** The columns every row has, paired or requested: who it is, and the person's own note. */
function identityColumns(peerId: string, selfChosenName: string, publicKey: Uint8Array, node: NodeContext): ResourceRow {
  return {
    id: peerId,
    self_chosen_name: selfChosenName,
    note: node.notes.get(peerId),
    fingerprint: fingerprintOf(publicKey),
    safety_number: safetyNumber(node.identity.publicKey, publicKey),
  };
}

function pairedRow(peer: TrustedPeerRecord, node: NodeContext): ResourceRow {
  return {
    ...identityColumns(peer.peerId, peer.displayName, peer.publicKey, node),
    state: peer.state,
    request_state: null,
    online: node.network.isOnline(peer.peerId),
    path: node.network.pathOf(peer.peerId),
    addresses: [...peer.addresses],
    last_seen: peer.lastSeen?.toISOString() ?? null,
    trusted_at: peer.trustedAt.toISOString(),
    capabilities: capabilitiesOf(node.messenger.helloOf(peer.peerId)),
    agent_card: agentCardOf(node, peer.peerId),
  };
}

function requestedRow(request: PendingOutgoing, node: NodeContext): ResourceRow {
  return {
    ...identityColumns(request.peerId, request.displayName, request.publicKey, node),
    state: 'requested',
    request_state: request.state,
    online: false,
    path: null,
    addresses: request.address === null ? [] : [request.address],
    last_seen: null,
    trusted_at: null,
    capabilities: null,
    agent_card: null,
  };
}

/** A paired peer's row; for one that is not (or no longer) trusted, a pending request to it is the fresher news. */
function rowOf(peerId: string, node: NodeContext): ResourceRow | undefined {
  const peer = node.trust.get(peerId);
  if (peer?.state === 'trusted') return pairedRow(peer, node);
  const request = node.pending.findOutgoingByPeer(peerId);
  if (request !== undefined) return requestedRow(request, node);
  return peer?.state === 'revoked_by_peer' ? pairedRow(peer, node) : undefined;
}

export const peerResource: ResourceType = {
  rows(node) {
    const ids = new Set([
      ...node.trust.list().filter((peer) => peer.state !== 'revoked').map((peer) => peer.peerId),
      ...node.pending.outgoing().map((request) => request.peerId),
    ]);
    return [...ids].map((id) => rowOf(id, node)).filter((row): row is ResourceRow => row !== undefined);
  },

  row: rowOf,

  async create(data, node) {
    const outcome = await pair({ link: data['link'] }, node);
    const peerId = (outcome.data as { peer: string }).peer;
    if (typeof data['note'] === 'string') node.notes.set(peerId, data['note']);
    const row = rowOf(peerId, node);
    if (row === undefined) {
      throw new P2pError('NOT_FOUND', `the request to ${peerId} was made but is no longer pending (${outcome.message ?? 'no reason given'}); look for it under Peers`);
    }
    return { data: row, message: outcome.message };
  },

  /** Only the note changes: the rest of the row (sent back by Nexus's form) is the peer's and is not edited. */
  async update(id, data, node) {
    if (rowOf(id, node) === undefined) throw new P2pError('NOT_FOUND', `no paired or requested peer ${id}; refresh the list`);
    if (data['link'] !== undefined) {
      throw new P2pError('INVALID_INPUT', 'a pairing link only adds a peer: add it as a new peer instead');
    }
    if (data['note'] !== undefined) node.notes.set(id, data['note'] as string | null);
    return { data: rowOf(id, node), message: data['note'] === undefined ? 'nothing to change' : 'note saved' };
  },

  async delete(id, node) {
    const state = node.trust.stateOf(id);
    if (state === 'trusted' || state === 'revoked_by_peer') {
      const outcome = await revoke({ peer: id }, node);
      return { data: { id, ...(outcome.data as Record<string, unknown>) }, message: outcome.message };
    }
    if (node.pending.removeOutgoingForPeer(id) !== undefined) {
      node.notes.remove(id);
      return { data: { id, state: 'withdrawn' }, message: 'the pairing request is withdrawn: it is no longer sent' };
    }
    throw new P2pError('NOT_FOUND', `no paired or requested peer ${id}; refresh the list`);
  },

  unavailable: {},
};
