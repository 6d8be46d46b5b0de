/**
 * Types of the messages carried in an open session (docs/protocol.md,
 * "Session"). 0x10 is the responder's decision (decision.ts). 0x20, 0x21
 * and 0x24 (protocol 1's envelope, ack and ack batch) are retired: a node
 * counts them as unknown types.
 */
export const MSG_HELLO = 0x22;
/** The sender revoked the receiver; the session closes right after (revocation-notice.ts). */
export const MSG_REVOCATION = 0x23;
/** Messages under one signature (signed-batch.ts, message-leaf.ts). */
export const MSG_BATCH = 0x25;
/** The receiver's signed answer to the batches of a session (receipt.ts). */
export const MSG_RECEIPT = 0x26;
