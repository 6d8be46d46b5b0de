import { fingerprintOf, peerIdFromPublicKey } from '../common/peer-id';
import type { EventOutbox } from '../events/outbox';
import type { RefusalCounters } from '../metrics/refusals';
import type { KeyChainApplyRefusal, TrustStore } from '../trust/trust-store';
import type { ChainMismatch } from '../wire/handshake';
import { verifyKeyChain, type RotationStatement } from '../wire/key-rotation';

/** The chain a handshake carried for the key it proved, ending at that key; not yet verified. */
export type PresentedChain = readonly RotationStatement[] | undefined;

/** The peer id a proven key speaks for: the root of the chain that came with it (which ends at that key), or the key itself. */
export function claimedPeerId(publicKey: Uint8Array, keyChain: PresentedChain): string {
  const first = keyChain?.[0];
  return peerIdFromPublicKey(first === undefined ? publicKey : first.root);
}

/**
 * The key a known peer proves must be the one pinned for it, or be
 * certified onward from it by the peer's key chain (docs/protocol.md §19):
 * then the trust store follows the chain. Anything else (a retired key
 * above all, which a thief of an old key would present) is refused and
 * reported. The chain's signatures are checked only here, for a root this
 * node holds a record of, and only when the key is not the pinned one.
 */
export class PeerKeys {
  constructor(
    private readonly trust: TrustStore,
    private readonly outbox: EventOutbox,
    private readonly refusals: RefusalCounters,
  ) {}

  /**
   * The peer id a proven key speaks for: its chain's root; without a chain,
   * the rotated peer this node pinned that key for (a peer that knows this
   * node follows it sends no chain), or else the key's own id.
   */
  peerIdOf(publicKey: Uint8Array, keyChain: PresentedChain): string {
    if (keyChain !== undefined) return claimedPeerId(publicKey, keyChain);
    return this.trust.rotatedPeerWithKey(publicKey) ?? peerIdFromPublicKey(publicKey);
  }

  /**
   * For a peer with a record: null when `presented` is (now) its pinned
   * key, else why it is refused (for `mismatch`, which the caller calls).
   */
  follow(peerId: string, presented: Uint8Array, keyChain: PresentedChain): ChainMismatch | null {
    const pinned = this.trust.keyOf(peerId);
    if (sameBytes(presented, pinned)) return null;
    if (keyChain === undefined) return 'none';
    const applied = this.trust.applyKeyChain(peerId, keyChain);
    if (!applied.ok) return mismatchOf(applied.refusal);
    if (applied.changed) {
      this.outbox.enqueue({
        type: 'p2p.peer.key_rotated',
        subject: peerId,
        data: { peer: peerId, old_fingerprint: fingerprintOf(pinned), new_fingerprint: fingerprintOf(presented), seq: keyChain.length },
      });
    }
    return null;
  }

  /**
   * For a peer this node asked to pair with, under the key its link gave:
   * null when `presented` is that key or the chain certifies it onward,
   * else why it is refused.
   */
  certifiesRequested(peerId: string, requested: Uint8Array, presented: Uint8Array, keyChain: PresentedChain): ChainMismatch | null {
    if (keyChain === undefined) return sameBytes(presented, requested) ? null : 'none';
    const verdict = verifyKeyChain(keyChain);
    if (!verdict.ok) return `invalid_${verdict.refusal}`;
    if (peerIdFromPublicKey(verdict.chain.root) !== peerId || !verdict.chain.keys.some((key) => sameBytes(key, requested))) return 'other_root';
    return null;
  }

  /**
   * A key refused at the responder, which names the peer only through what
   * the initiator sent. A chain that does not verify, or roots elsewhere,
   * ties the key to nobody (anyone who knows a peer id can send one), so it
   * is only counted: keeping or publishing it would let a stranger rewrite
   * the trust file and push real evidence out of `refused_keys` at every
   * handshake. A key the peer held (`older_key`, `none`) or a fork signed by
   * one of its keys (`conflict`) is evidence, and reported as such.
   */
  refuseClaim(peerId: string, presented: Uint8Array, address: string | null, reason: ChainMismatch, expected?: Uint8Array): void {
    if (reason === 'other_root' || reason.startsWith('invalid_')) {
      this.refusals.count('network', 'key_mismatch');
      return;
    }
    this.mismatch(peerId, presented, address, reason, expected);
  }

  /**
   * Counts, keeps (for a peer with a record) and publishes a refused key:
   * as is, for the initiator, which dialed an address it holds for the peer
   * (the node there answered in the peer's place, whatever chain it sent).
   * A key that came without a chain is named `older_key` when it is one the
   * peer already left: what a thief of a retired key presents.
   */
  mismatch(peerId: string, presented: Uint8Array, address: string | null, reason: ChainMismatch, expected = this.trust.keyOf(peerId)): void {
    const chain = reason === 'none' && this.isOlderKey(peerId, presented) ? 'older_key' : reason;
    this.refusals.count('network', 'key_mismatch');
    if (this.trust.get(peerId) !== undefined) this.trust.recordRefusedKey(peerId, presented, address);
    this.outbox.enqueue({
      type: 'p2p.peer.key_mismatch',
      subject: peerId,
      data: {
        peer: peerId,
        expected_fingerprint: fingerprintOf(expected),
        presented_fingerprint: fingerprintOf(presented),
        address,
        chain,
      },
    });
  }

  private isOlderKey(peerId: string, presented: Uint8Array): boolean {
    const record = this.trust.get(peerId);
    if (record === undefined) return false;
    const earlier = [record.keyChain[0]?.root, ...record.keyChain.map((statement) => statement.newKey)];
    return earlier.some((key) => key !== undefined && sameBytes(key, presented));
  }
}

function mismatchOf(refusal: KeyChainApplyRefusal): ChainMismatch {
  return refusal === 'older_chain' ? 'older_key' : refusal;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}
