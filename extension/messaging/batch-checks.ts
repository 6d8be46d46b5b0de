import type { TrustStore } from '../trust/trust-store';
import { AckReason, type RefusalReason } from '../wire/delivery-codes';
import { decodeLeaf, LeafFormatError, type MessageLeaf } from '../wire/message-leaf';
import type { BatchHeader } from '../wire/signed-batch';
import { isValidContent } from './payload';

export interface CheckContext {
  me: Uint8Array;
  /** The peer proven by the session that carried the batch. */
  sessionPeer: string;
  trust: TrustStore;
  now: number;
  clockSkewMs: number;
}

/**
 * The receiver's checks of a signed batch (docs/protocol.md, "Receiver
 * order"), cheap and local first. This one is per batch, before any hash:
 * for this node, from the session's own peer, which this node trusts, and
 * signed recently. The session's peer is compared before trust is looked
 * at, so that naming a third key tells the session peer nothing about
 * whether this node trusts that key. Batches are not relayed: whoever signs
 * must be whoever is connected. Returns why every message of the batch is
 * refused, or null.
 */
export function checkAddressing(header: BatchHeader, context: CheckContext): RefusalReason | null {
  if (Buffer.compare(header.recipient, context.me) !== 0) return AckReason.WRONG_RECIPIENT;
  // The session peer's current key, not the key its id names: a peer that rotated signs with the end of its key chain.
  if (Buffer.compare(header.sender, context.trust.keyOf(context.sessionPeer)) !== 0) return AckReason.SENDER_MISMATCH;
  if (!context.trust.isTrusted(context.sessionPeer)) return AckReason.UNKNOWN_SENDER;
  if (header.time < context.now - context.clockSkewMs) return AckReason.STALE_TIMESTAMP;
  if (header.time > context.now + context.clockSkewMs) return AckReason.FUTURE_TIMESTAMP;
  return null;
}

/** Per message, once the batch's signature held: its fields, its size, then content a host can carry. */
export function checkLeaf(leaf: Uint8Array, maxPayloadBytes: number): MessageLeaf | RefusalReason {
  let decoded: MessageLeaf;
  try {
    decoded = decodeLeaf(leaf, maxPayloadBytes);
  } catch (error) {
    if (!(error instanceof LeafFormatError)) throw error;
    return error.reason === 'payload_too_large' ? AckReason.PAYLOAD_TOO_LARGE : AckReason.MALFORMED;
  }
  return isValidContent(decoded.type, decoded.payload) ? decoded : AckReason.BAD_PAYLOAD;
}
