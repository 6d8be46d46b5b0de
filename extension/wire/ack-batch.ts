import { createHash } from 'node:crypto';
import { peerIdFromPublicKey } from '../common/peer-id';
import { type Ack, AckReason, AckStatus } from './ack';
import { isCode } from './code-names';
import { MESSAGE_ID_BYTES } from './envelope';
import { ed25519Verify, SIGNATURE_BYTES } from './primitives';

/**
 * Several acks under one signature: `count u16 | (message_id [16] | status
 * u8 | reason u8) × count | signature [64]`. A node answers refused,
 * deferred and duplicate envelopes this way, so that a peer sending many
 * envelopes that cannot be stored costs one signature per batch rather than
 * one per envelope. Each entry means exactly what the single ack with the
 * same fields means (docs/protocol.md §10).
 */
export const ACK_BATCH_ALGORITHM = 'P2P-COMM-ACKS1-ED25519-SHA256';
/** Named in a node's hello when it reads ack batches; a node that does not name it is answered with single acks. */
export const ACK_BATCH_CAPABILITY = 'ack_batch';
export const ACK_BATCH_ENTRY_BYTES = MESSAGE_ID_BYTES + 2;
/** The format's limit: 18 KiB of entries, far below the default frame limit of a little over 1 MiB. */
export const MAX_ACK_BATCH_ENTRIES = 1024;

/** Signed by the acknowledging node over the entries' hash; names both ends like a single ack. */
export function ackBatchCanonicalString(entries: Uint8Array, acker: Uint8Array, originalSender: Uint8Array): string {
  return [
    ACK_BATCH_ALGORITHM,
    peerIdFromPublicKey(acker),
    peerIdFromPublicKey(originalSender),
    createHash('sha256').update(entries).digest('hex'),
  ].join('\n');
}

export function signAckBatch(
  acks: readonly Ack[],
  acker: { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array },
  originalSender: Uint8Array,
): Uint8Array {
  if (acks.length < 1 || acks.length > MAX_ACK_BATCH_ENTRIES) {
    throw new RangeError(`an ack batch holds 1 to ${MAX_ACK_BATCH_ENTRIES} acks, got ${acks.length}`);
  }
  const entries = Buffer.alloc(acks.length * ACK_BATCH_ENTRY_BYTES);
  acks.forEach((ack, index) => {
    const at = index * ACK_BATCH_ENTRY_BYTES;
    entries.set(ack.messageId, at);
    entries[at + MESSAGE_ID_BYTES] = ack.status;
    entries[at + MESSAGE_ID_BYTES + 1] = ack.reason;
  });
  const count = Buffer.alloc(2);
  count.writeUInt16BE(acks.length);
  const signature = acker.sign(Buffer.from(ackBatchCanonicalString(entries, acker.publicKey, originalSender), 'utf8'));
  return Buffer.concat([count, entries, signature]);
}

/** Null unless the bytes are a well-formed batch signed by `acker` for messages `originalSender` sent. */
export function openAckBatch(bytes: Uint8Array, acker: Uint8Array, originalSender: Uint8Array): Ack[] | null {
  if (bytes.length < 2 + ACK_BATCH_ENTRY_BYTES + SIGNATURE_BYTES) return null;
  const count = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUInt16BE(0);
  if (count < 1 || count > MAX_ACK_BATCH_ENTRIES || bytes.length !== 2 + count * ACK_BATCH_ENTRY_BYTES + SIGNATURE_BYTES) return null;
  const entries = bytes.subarray(2, 2 + count * ACK_BATCH_ENTRY_BYTES);
  const acks: Ack[] = [];
  for (let at = 0; at < entries.length; at += ACK_BATCH_ENTRY_BYTES) {
    const status = entries[at + MESSAGE_ID_BYTES] as number;
    const reason = entries[at + MESSAGE_ID_BYTES + 1] as number;
    if (!isCode(AckStatus, status) || !isCode(AckReason, reason)) return null;
    acks.push({ messageId: entries.slice(at, at + MESSAGE_ID_BYTES), status, reason });
  }
  const signature = bytes.subarray(2 + entries.length);
  return ed25519Verify(acker, Buffer.from(ackBatchCanonicalString(entries, acker, originalSender), 'utf8'), signature) ? acks : null;
}
