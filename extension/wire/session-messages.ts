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
/**
 * The sender's signed A2A agent card, UTF-8 JSON, or an empty body for "no
 * card" (docs/protocol.md §15). Sent after the hello on every session, again
 * when the card changes, and by the initiator of a pair request once its
 * request is stored (the one message of a pairing connection after the
 * decision).
 */
export const MSG_AGENT_CARD = 0x27;
