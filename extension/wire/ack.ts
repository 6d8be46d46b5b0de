import { peerIdFromPublicKey } from '../common/peer-id';
import { codeName, isCode } from './code-names';
import { MESSAGE_ID_BYTES } from './envelope';
import { ed25519Verify, SIGNATURE_BYTES } from './primitives';

/**
 * The receiver's signed answer to an envelope: `message_id [16] | status u8 |
 * reason u8 | signature [64]`. "Delivered" means the peer stored the message
 * durably and said so with a signature by its own identity key, which the
 * sender checks against the key it pinned.
 */
export const ACK_ALGORITHM = 'P2P-COMM-ACK1-ED25519';
const ACK_BYTES = MESSAGE_ID_BYTES + 2 + SIGNATURE_BYTES;

export const AckStatus = {
  /** Stored durably now. */
  STORED: 1,
  /** Stored durably earlier (a retransmission). */
  DUPLICATE: 2,
  /** Refused for good: the sender marks the message failed. */
  REFUSED: 3,
  /** Not taken now (inbox full, rate limited): the sender retries later. */
  DEFERRED: 4,
} as const;
export type AckStatus = (typeof AckStatus)[keyof typeof AckStatus];

/** Why an envelope was not stored; also the names counted in status and sent in events. */
export const AckReason = {
  NONE: 0,
  WRONG_RECIPIENT: 1,
  UNKNOWN_SENDER: 2,
  STALE_TIMESTAMP: 3,
  FUTURE_TIMESTAMP: 4,
  REPLAYED_NONCE: 5,
  BAD_SIGNATURE: 6,
  PAYLOAD_TOO_LARGE: 7,
  BAD_PAYLOAD: 8,
  INBOX_FULL: 9,
  RATE_LIMITED: 10,
  SENDER_MISMATCH: 11,
  MALFORMED: 12,
  STORAGE_ERROR: 13,
} as const;
export type AckReason = (typeof AckReason)[keyof typeof AckReason];

export interface Ack {
  messageId: Uint8Array;
  status: AckStatus;
  reason: AckReason;
}

export function ackReasonName(reason: AckReason): string {
  return codeName(AckReason, reason);
}

/** Signed by the acknowledging node; names both ends so an ack cannot be moved to another conversation. */
export function ackCanonicalString(ack: Ack, acker: Uint8Array, originalSender: Uint8Array): string {
  return [
    ACK_ALGORITHM,
    Buffer.from(ack.messageId).toString('hex'),
    peerIdFromPublicKey(acker),
    peerIdFromPublicKey(originalSender),
    codeName(AckStatus, ack.status),
    ackReasonName(ack.reason),
  ].join('\n');
}

export function encodeAck(ack: Ack, signature: Uint8Array): Uint8Array {
  return Buffer.concat([ack.messageId, Uint8Array.of(ack.status, ack.reason), signature]);
}

export function signAck(ack: Ack, acker: { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array }, originalSender: Uint8Array): Uint8Array {
  return encodeAck(ack, acker.sign(Buffer.from(ackCanonicalString(ack, acker.publicKey, originalSender), 'utf8')));
}

/** Null unless the bytes are a well-formed ack signed by `acker` for a message `originalSender` sent. */
export function openAck(bytes: Uint8Array, acker: Uint8Array, originalSender: Uint8Array): Ack | null {
  if (bytes.length !== ACK_BYTES) return null;
  const status = bytes[MESSAGE_ID_BYTES] as number;
  const reason = bytes[MESSAGE_ID_BYTES + 1] as number;
  if (!isCode(AckStatus, status) || !isCode(AckReason, reason)) return null;
  const ack: Ack = { messageId: bytes.slice(0, MESSAGE_ID_BYTES), status, reason };
  const signature = bytes.subarray(MESSAGE_ID_BYTES + 2);
  return ed25519Verify(acker, Buffer.from(ackCanonicalString(ack, acker, originalSender), 'utf8'), signature) ? ack : null;
}
