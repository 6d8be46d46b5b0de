/**
 * Types of the messages carried in an open session (docs/protocol.md,
 * "Session"). 0x10 is the responder's decision (decision.ts).
 */
export const MSG_ENVELOPE = 0x20;
export const MSG_ACK = 0x21;
export const MSG_HELLO = 0x22;
/** The sender revoked the receiver; the session closes right after (revocation-notice.ts). */
export const MSG_REVOCATION = 0x23;
/** Several acks under one signature (ack-batch.ts). */
export const MSG_ACK_BATCH = 0x24;
