import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { P2pError } from '../common/errors';
import { fingerprintOf } from '../common/peer-id';
import { NEXT_IDENTITY_FILE_NAME, type NodeIdentity } from '../identity/node-identity';
import { KEY_ROTATION_CAPABILITY, type RotationResult } from '../network/rotation-follow';
import { MAX_KEY_CHAIN } from '../wire/key-rotation';
import type { NodeContext, OperationHandler } from './context';

/** How far a paired peer is with this node's current key. */
export type PeerKeyState = 'confirmed' | 'pending' | 'unsupported';

/** Identities whose rotation runs now: the next file is gone once renamed, but the swap around it is not over yet. */
const rotating = new WeakSet<NodeIdentity>();

export const rotateIdentity: OperationHandler = async (input, node) => {
  const identity = node.identity;
  if (rotating.has(identity) || existsSync(join(node.dataDir, NEXT_IDENTITY_FILE_NAME))) {
    throw new P2pError('CONFLICT', 'busy: a key rotation is already under way; call identity to see it once it is done', { reason: 'busy' });
  }
  if (identity.keyChain.length >= MAX_KEY_CHAIN) {
    throw new P2pError(
      'LIMIT_REACHED',
      `key chain full: this identity already replaced its key ${MAX_KEY_CHAIN} times, the most a key chain holds; ` +
        'make a new identity (move the data directory away) and pair again',
      { reason: 'key_chain_full' },
    );
  }
  const graceSeconds = (input['grace_seconds'] as number | undefined) ?? node.networkConfig.keyGraceSeconds;
  rotating.add(identity);
  let result: RotationResult;
  try {
    // The operation owns the checks around a rotation and its answer; the network owns the swap (rotation-follow.ts).
    result = await node.network.rotation.rotate({ graceMs: graceSeconds * 1000 });
  } finally {
    rotating.delete(identity);
  }
  const peers = peerKeyStates(node);
  const unsupported = peers.filter((peer) => peer.state === 'unsupported').length;
  return {
    data: {
      peer_id: node.identity.peerId,
      old_fingerprint: result.oldFingerprint,
      fingerprint: result.fingerprint,
      seq: result.seq,
      retire_at: result.retireAt.toISOString(),
      peers,
    },
    message:
      `this node now signs with a new key (fingerprint ${result.fingerprint}); its peer id stays. ` +
      'Paired peers follow at their next connection, certified by the previous key; the safety numbers changed. ' +
      (unsupported === 0
        ? `A peer offline until ${result.retireAt.toISOString()} or longer may need a new pairing link`
        : `${unsupported} peer(s) run a p2p-comm without key rotation: they must update p2p-comm first, or pair again`),
  };
};

/**
 * Each paired peer against this node's current key: `confirmed` once a
 * session opened under it, `unsupported` when the peer's last hello lacks
 * key rotation (it will refuse the chain), else `pending`.
 */
export function peerKeyStates(node: NodeContext): { peer: string; name: string; state: PeerKeyState }[] {
  const seq = node.identity.keyChain.length;
  return node.trust
    .list()
    .filter((peer) => peer.state === 'trusted')
    .map((peer) => ({ peer: peer.peerId, name: peer.displayName, state: keyStateOf(node, peer.peerId, seq) }));
}

function keyStateOf(node: NodeContext, peerId: string, seq: number): PeerKeyState {
  if ((node.identity.confirmed[peerId] ?? 0) >= seq) return 'confirmed';
  const hello = node.messenger.helloOf(peerId);
  return hello !== undefined && !hello.capabilities.includes(KEY_ROTATION_CAPABILITY) ? 'unsupported' : 'pending';
}

/** What `identity` says of this node's rotations: none yet (seq 0, null), or the peers still to follow and when the replaced key retires. */
export function ownRotationFacts(node: NodeContext): Record<string, unknown> {
  const identity = node.identity;
  const retiring = identity.retiring.at(-1);
  return {
    key_seq: identity.keyChain.length,
    previous_fingerprints: previousKeys(identity).map(fingerprintOf),
    rotation:
      identity.keyChain.length === 0
        ? null
        : {
            pending: peerKeyStates(node)
              .filter((peer) => peer.state !== 'confirmed')
              .map((peer) => peer.peer),
            retire_at: retiring === undefined ? null : retiring.retireAt.toISOString(),
          },
  };
}

/** The keys before the current one, oldest first: the root, then each the chain replaced. */
export function previousKeys(owner: { keyChain: readonly { oldKey: Uint8Array }[] }): Uint8Array[] {
  return owner.keyChain.map((statement) => statement.oldKey);
}
