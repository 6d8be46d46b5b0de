import { P2pError } from '../common/errors';
import type { NodeContext, OperationHandler } from './context';

/** `pending`: a pairing request between us is waiting for someone's answer (a refused one does not count). */
type TrustState = 'trusted' | 'pending' | 'unknown';

function trustOf(node: NodeContext, peerId: string): TrustState {
  if (node.trust.isTrusted(peerId)) return 'trusted';
  const outgoing = node.pending.findOutgoingByPeer(peerId);
  const waiting = (outgoing !== undefined && outgoing.state !== 'rejected') || node.pending.findIncomingByPeer(peerId) !== undefined;
  return waiting ? 'pending' : 'unknown';
}

/** The nodes heard on the LAN, each as it describes itself; `trust` is this node's own record of it. */
export const discover: OperationHandler = async (_input, node) => {
  if (!node.discovery.browses) {
    const { mode } = node.discovery.status();
    throw new P2pError(
      'NOT_AVAILABLE',
      `this node does not listen for others on the LAN (P2P_COMM_MDNS=${mode}); restart it with P2P_COMM_MDNS=on or browse, or pair with a pairing link`,
    );
  }
  return {
    data: {
      peers: node.discovery.peers().map((peer) => ({
        peer: peer.peerId,
        fingerprint: peer.fingerprint,
        display_name: peer.displayName,
        addresses: [peer.address],
        trust: trustOf(node, peer.peerId),
        first_seen: peer.firstSeen.toISOString(),
        last_seen: peer.lastSeen.toISOString(),
      })),
    },
    message: null,
  };
};
