import { fingerprintOf } from '../common/peer-id';
import { safetyNumber } from '../common/safety-number';
import type { Hello } from '../wire/hello';
import { agentCardOf } from './a2a';
import type { OperationHandler } from './context';
import { previousKeys } from './rotation';

/** What the peer said about itself in its last hello; null until it has. */
export function capabilitiesOf(hello: Hello | undefined): Record<string, unknown> | null {
  if (hello === undefined) return null;
  return { protocol_version: hello.protocolVersion, agent: hello.agent, capabilities: hello.capabilities, software: hello.software };
}

/** Paired peers, and those that revoked this node (so the user sees why they went quiet); not those this node revoked. */
export const peers: OperationHandler = async (_input, node) => ({
  data: {
    peers: node.trust
      .list()
      .filter((peer) => peer.state !== 'revoked')
      .map((peer) => ({
        peer: peer.peerId,
        state: peer.state,
        fingerprint: fingerprintOf(peer.publicKey),
        safety_number: safetyNumber(node.identity.publicKey, peer.publicKey),
        display_name: peer.displayName,
        addresses: peer.addresses,
        online: node.network.isOnline(peer.peerId),
        connection: node.network.direction(peer.peerId),
        path: node.network.pathOf(peer.peerId),
        last_seen: peer.lastSeen?.toISOString() ?? null,
        trusted_at: peer.trustedAt.toISOString(),
        revoked_by_peer_at: peer.state === 'revoked_by_peer' ? (peer.revokedAt?.toISOString() ?? null) : null,
        key_seq: peer.keyChain.length,
        previous_fingerprints: previousKeys(peer).map(fingerprintOf),
        key_rotated_at: keyRotatedAt(peer.keyChain),
        capabilities: capabilitiesOf(node.messenger.helloOf(peer.peerId)),
        agent_card: agentCardOf(node, peer.peerId),
      })),
  },
  message: null,
});

/** When the peer made its current key, as its last rotation statement says (signed by both keys); null while it never rotated. */
function keyRotatedAt(chain: readonly { time: number }[]): string | null {
  const last = chain.at(-1);
  return last === undefined ? null : new Date(last.time).toISOString();
}

export const revoke: OperationHandler = async (input, node) => {
  const peerId = input['peer'] as string;
  const alreadyEnded = node.trust.get(peerId)?.state === 'revoked_by_peer';
  const revoked = node.trust.revoke(peerId);
  node.pending.removeOutgoingForPeer(peerId);
  // The person's note goes with the pairing, whoever revoked it: a note outliving it would greet a re-pairing with stale words.
  node.notes.remove(peerId);
  node.cards.forget(peerId);
  const notified = node.network.announceRevocation(peerId);
  await node.messenger.revokedHere(peerId);
  node.outbox.enqueue({
    type: 'p2p.peer.revoked',
    subject: peerId,
    data: { peer: peerId, fingerprint: fingerprintOf(revoked.publicKey), display_name: revoked.displayName, notified },
  });
  return { data: { peer: peerId, state: 'revoked', notified }, message: revokeMessage(notified, alreadyEnded) };
};

function revokeMessage(notified: boolean, alreadyEnded: boolean): string {
  if (notified) return 'the peer was told and the connection is closed; later traffic from it is refused';
  if (alreadyEnded) return 'the peer had already revoked this node; it is no longer listed';
  return 'the peer is not connected: it is told when it next tries to connect, and refused';
}
