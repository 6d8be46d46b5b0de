import { peerIdFromPublicKey } from '../common/peer-id';
import type { InboxStore } from '../store/inbox';
import type { TrustStore } from '../trust/trust-store';
import { AckReason } from '../wire/ack';
import { verifyEnvelope, type SignedEnvelope } from '../wire/envelope';
import { decodeContent } from './payload';

export interface CheckContext {
  me: Uint8Array;
  /** The peer proven by the session that carried the envelope. */
  sessionPeer: string;
  trust: TrustStore;
  inbox: InboxStore;
  now: number;
  clockSkewMs: number;
}

/**
 * The receiver's checks come in two stages (docs/protocol.md, "Receiving"),
 * with the duplicate check between them: who the envelope is from and for,
 * then, for a message not stored yet, whether it holds. Cheap and local
 * first, the signature once the envelope could matter, the payload last.
 * Each returns why the envelope is refused, or null.
 *
 * Addressing: for this node, and from the session's own peer, which this
 * node trusts. The session's peer is compared before trust is looked at,
 * so that naming a third key tells the session peer nothing about whether
 * this node trusts that key. Envelopes are not relayed: whoever signs must
 * be whoever is connected.
 */
export function checkAddressing(envelope: SignedEnvelope, context: CheckContext): AckReason | null {
  if (Buffer.compare(envelope.recipient, context.me) !== 0) return AckReason.WRONG_RECIPIENT;
  const sender = peerIdFromPublicKey(envelope.sender);
  if (sender !== context.sessionPeer) return AckReason.SENDER_MISMATCH;
  if (!context.trust.isTrusted(sender)) return AckReason.UNKNOWN_SENDER;
  return null;
}

/** Fresh, not replayed, signed by its sender, with content a host can carry. */
export function checkContent(envelope: SignedEnvelope, context: CheckContext): AckReason | null {
  if (envelope.timestamp < context.now - context.clockSkewMs) return AckReason.STALE_TIMESTAMP;
  if (envelope.timestamp > context.now + context.clockSkewMs) return AckReason.FUTURE_TIMESTAMP;
  if (context.inbox.hasNonce(context.sessionPeer, envelope.nonce)) return AckReason.REPLAYED_NONCE;
  if (!verifyEnvelope(envelope)) return AckReason.BAD_SIGNATURE;
  if (decodeContent(envelope.type, envelope.payload) === null) return AckReason.BAD_PAYLOAD;
  return null;
}
