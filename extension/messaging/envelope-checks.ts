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
 * The receiver's checks, in this order (docs/protocol.md, "Receiving"):
 * cheap and local first, the signature once the envelope could matter, and
 * the payload last. No answer may depend on facts about a peer other than
 * the session's. Returns why the envelope is refused, or null.
 */
export function checkEnvelope(envelope: SignedEnvelope, context: CheckContext): AckReason | null {
  if (Buffer.compare(envelope.recipient, context.me) !== 0) return AckReason.WRONG_RECIPIENT;
  const sender = peerIdFromPublicKey(envelope.sender);
  // Envelopes are not relayed: whoever signs must be whoever is connected.
  // Checked before trust, so that naming a third key tells the session peer
  // nothing about whether this node trusts that key.
  if (sender !== context.sessionPeer) return AckReason.SENDER_MISMATCH;
  if (!context.trust.isTrusted(sender)) return AckReason.UNKNOWN_SENDER;
  if (envelope.timestamp < context.now - context.clockSkewMs) return AckReason.STALE_TIMESTAMP;
  if (envelope.timestamp > context.now + context.clockSkewMs) return AckReason.FUTURE_TIMESTAMP;
  if (context.inbox.hasNonce(sender, envelope.nonce)) return AckReason.REPLAYED_NONCE;
  if (!verifyEnvelope(envelope)) return AckReason.BAD_SIGNATURE;
  if (decodeContent(envelope.type, envelope.payload) === null) return AckReason.BAD_PAYLOAD;
  return null;
}
