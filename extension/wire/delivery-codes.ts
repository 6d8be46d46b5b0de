import { codeName } from './code-names';

/** What became of a message at its receiver (docs/protocol.md §10). */
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

/**
 * Why a message was not stored; also the names counted in status and sent
 * in events. Code 5 (`replayed_nonce`, protocol 1) is retired and never
 * reused: v2 has no nonce, and a replayed message is a known id.
 */
export const AckReason = {
  NONE: 0,
  WRONG_RECIPIENT: 1,
  UNKNOWN_SENDER: 2,
  STALE_TIMESTAMP: 3,
  FUTURE_TIMESTAMP: 4,
  BAD_SIGNATURE: 6,
  PAYLOAD_TOO_LARGE: 7,
  BAD_PAYLOAD: 8,
  INBOX_FULL: 9,
  RATE_LIMITED: 10,
  SENDER_MISMATCH: 11,
  MALFORMED: 12,
  STORAGE_ERROR: 13,
  /** The sender's id names another message already stored (another leaf hash). */
  ID_REUSED: 14,
} as const;
export type AckReason = (typeof AckReason)[keyof typeof AckReason];
/** The reasons a message that was not stored can carry. */
export type RefusalReason = Exclude<AckReason, typeof AckReason.NONE>;

export function ackReasonName(reason: AckReason): string {
  return codeName(AckReason, reason);
}
