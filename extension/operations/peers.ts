import { fingerprintOf } from '../common/peer-id';
import { safetyNumber } from '../common/safety-number';
import { CloseCode } from '../wire/secure-channel';
import type { Hello } from '../wire/hello';
import type { OperationHandler } from './context';

/** What the peer said about itself in its last hello; null until it has. */
function capabilitiesOf(hello: Hello | undefined): Record<string, unknown> | null {
  if (hello === undefined) return null;
  return { protocol_version: hello.protocolVersion, agent: hello.agent, capabilities: hello.capabilities, software: hello.software };
}

export const peers: OperationHandler = async (_input, node) => ({
  data: {
    peers: node.trust
      .list()
      .filter((peer) => peer.state === 'trusted')
      .map((peer) => ({
        peer: peer.peerId,
        fingerprint: fingerprintOf(peer.publicKey),
        safety_number: safetyNumber(node.identity.publicKey, peer.publicKey),
        display_name: peer.displayName,
        addresses: peer.addresses,
        online: node.network.isOnline(peer.peerId),
        connection: node.network.direction(peer.peerId),
        last_seen: peer.lastSeen?.toISOString() ?? null,
        trusted_at: peer.trustedAt.toISOString(),
        capabilities: capabilitiesOf(node.messenger.helloOf(peer.peerId)),
      })),
  },
  message: null,
});

export const revoke: OperationHandler = async (input, node) => {
  const peerId = input['peer'] as string;
  node.trust.revoke(peerId);
  node.pending.removeOutgoingForPeer(peerId);
  node.network.disconnect(peerId, CloseCode.REVOKED, 'trust revoked');
  return { data: { peer: peerId, state: 'revoked' }, message: 'the connection is closed and later traffic from this peer is refused' };
};
