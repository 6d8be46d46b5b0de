import { hash } from 'node:crypto';
import { isCode } from './code-names';
import { AckReason, AckStatus, type RefusalReason } from './delivery-codes';
import { MESSAGE_ID_BYTES } from './message-leaf';
import { ed25519Verify, KEY_BYTES, SIGNATURE_BYTES } from './primitives';

/**
 * The receiver's signed answer to the signed batches (session message 0x25)
 * of one session: "every message of your batches first..last of this
 * session is stored durably (now or earlier), except these". Batches are
 * numbered from 0 in the order the session delivered them, which both sides
 * count alike. Layout, integers big-endian:
 *
 *   first_batch u32 | last_batch u32 | count u16 (0..1024) |
 *   (message_id [16] | status u8 (3 refused, 4 deferred) | reason u8 (not 0)) × count |
 *   signature [64]
 *
 * Ed25519 by the receiver (the acker) over 171 bytes at fixed offsets:
 *
 *   "P2P-COMM-RECEIPT2-ED25519-SHA256" | 0x00 | acker [32] | sender [32] |
 *   session [32] | first_batch u32 | last_batch u32 | count u16 | SHA-256(exceptions) [32]
 *
 * `session` is the handshake transcript hash both sides hold, so a receipt
 * cannot be moved to another session (its positions would mean other
 * batches) nor, with acker and sender, to another conversation. Whether a
 * receipt continues the previous one and names only ids of the batches it
 * covers is for its reader, who knows what it sent.
 */
export const RECEIPT_ALGORITHM = 'P2P-COMM-RECEIPT2-ED25519-SHA256';
/** The format's limit: a receipt covers fewer batches to stay within it (at least 4, as a batch has at most 256 messages). */
export const MAX_RECEIPT_EXCEPTIONS = 1024;
export const RECEIPT_EXCEPTION_BYTES = MESSAGE_ID_BYTES + 2;
/** Batch positions are u32: a session key retires long before 2^32 messages. */
export const MAX_BATCH_POSITION = 0xffff_ffff;
const FIXED_BYTES = 4 + 4 + 2;
const SIGNED_PREFIX = Buffer.from(`${RECEIPT_ALGORITHM}\0`, 'utf8');

export interface ReceiptException {
  messageId: Uint8Array;
  status: typeof AckStatus.REFUSED | typeof AckStatus.DEFERRED;
  reason: RefusalReason;
}

export interface Receipt {
  firstBatch: number;
  lastBatch: number;
  exceptions: readonly ReceiptException[];
}

/** Who signs, for whom, and in which session. */
export interface ReceiptParties {
  acker: Uint8Array;
  sender: Uint8Array;
  session: Uint8Array;
}

export type ReceiptRefusal = 'wrong_length' | 'too_many_exceptions' | 'batch_range' | 'bad_status' | 'bad_reason' | 'bad_signature';

export class ReceiptFormatError extends Error {
  override name = 'ReceiptFormatError';

  constructor(
    readonly reason: Exclude<ReceiptRefusal, 'bad_signature'>,
    message: string,
  ) {
    super(message);
  }
}

/** The bytes the acker signs, given the encoded exceptions. */
export function receiptSigningInput(receipt: Omit<Receipt, 'exceptions'>, count: number, exceptions: Uint8Array, parties: ReceiptParties): Uint8Array {
  const input = Buffer.alloc(SIGNED_PREFIX.length + 3 * KEY_BYTES + FIXED_BYTES + 32);
  let at = SIGNED_PREFIX.copy(input, 0);
  for (const key of [parties.acker, parties.sender, parties.session]) {
    if (key.length !== KEY_BYTES) throw new RangeError(`acker, sender and session are ${KEY_BYTES} bytes each`);
    input.set(key, at);
    at += KEY_BYTES;
  }
  at = input.writeUInt32BE(receipt.firstBatch, at);
  at = input.writeUInt32BE(receipt.lastBatch, at);
  at = input.writeUInt16BE(count, at);
  input.set(hash('sha256', exceptions, 'buffer'), at);
  return input;
}

export function signReceipt(receipt: Receipt, signer: { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array }, sender: Uint8Array, session: Uint8Array): Uint8Array {
  const { firstBatch, lastBatch, exceptions } = receipt;
  if (!isPosition(firstBatch) || !isPosition(lastBatch) || firstBatch > lastBatch) {
    throw new RangeError(`a receipt covers batches first..last with 0 <= first <= last <= ${MAX_BATCH_POSITION}, not ${firstBatch}..${lastBatch}`);
  }
  if (exceptions.length > MAX_RECEIPT_EXCEPTIONS) throw new RangeError(`a receipt lists at most ${MAX_RECEIPT_EXCEPTIONS} exceptions, not ${exceptions.length}`);
  const out = Buffer.alloc(FIXED_BYTES + exceptions.length * RECEIPT_EXCEPTION_BYTES + SIGNATURE_BYTES);
  out.writeUInt32BE(firstBatch, 0);
  out.writeUInt32BE(lastBatch, 4);
  out.writeUInt16BE(exceptions.length, 8);
  exceptions.forEach((exception, index) => {
    const at = FIXED_BYTES + index * RECEIPT_EXCEPTION_BYTES;
    if (exception.messageId.length !== MESSAGE_ID_BYTES) throw new RangeError(`a message id is ${MESSAGE_ID_BYTES} bytes`);
    out.set(exception.messageId, at);
    out[at + MESSAGE_ID_BYTES] = exception.status;
    out[at + MESSAGE_ID_BYTES + 1] = exception.reason;
  });
  const entries = out.subarray(FIXED_BYTES, FIXED_BYTES + exceptions.length * RECEIPT_EXCEPTION_BYTES);
  const signature = signer.sign(receiptSigningInput(receipt, exceptions.length, entries, { acker: signer.publicKey, sender, session }));
  out.set(signature, out.length - SIGNATURE_BYTES);
  return out;
}

/** Splits a receipt into its fields and signature; checks the form only, not the signature (openReceipt). */
export function decodeReceipt(bytes: Uint8Array): { receipt: Receipt; exceptionBytes: Uint8Array; signature: Uint8Array } {
  if (bytes.length < FIXED_BYTES + SIGNATURE_BYTES) throw new ReceiptFormatError('wrong_length', `a receipt of ${bytes.length} bytes is shorter than its ${FIXED_BYTES + SIGNATURE_BYTES} fixed bytes`);
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const firstBatch = data.readUInt32BE(0);
  const lastBatch = data.readUInt32BE(4);
  const count = data.readUInt16BE(8);
  if (count > MAX_RECEIPT_EXCEPTIONS) throw new ReceiptFormatError('too_many_exceptions', `a receipt lists at most ${MAX_RECEIPT_EXCEPTIONS} exceptions, not ${count}`);
  const expected = FIXED_BYTES + count * RECEIPT_EXCEPTION_BYTES + SIGNATURE_BYTES;
  if (bytes.length !== expected) throw new ReceiptFormatError('wrong_length', `a receipt listing ${count} exceptions is ${expected} bytes, not ${bytes.length}`);
  if (firstBatch > lastBatch) throw new ReceiptFormatError('batch_range', `a receipt covers at least one batch: first ${firstBatch} is after last ${lastBatch}`);
  const exceptions: ReceiptException[] = [];
  for (let at = FIXED_BYTES; at < expected - SIGNATURE_BYTES; at += RECEIPT_EXCEPTION_BYTES) {
    const status = data[at + MESSAGE_ID_BYTES] as number;
    const reason = data[at + MESSAGE_ID_BYTES + 1] as number;
    if (status !== AckStatus.REFUSED && status !== AckStatus.DEFERRED) throw new ReceiptFormatError('bad_status', `an exception is refused (3) or deferred (4), not ${status}`);
    if (!isRefusalReason(reason)) throw new ReceiptFormatError('bad_reason', `${reason} is no reason for an exception`);
    exceptions.push({ messageId: bytes.slice(at, at + MESSAGE_ID_BYTES), status, reason });
  }
  return {
    receipt: { firstBatch, lastBatch, exceptions },
    exceptionBytes: bytes.subarray(FIXED_BYTES, expected - SIGNATURE_BYTES),
    signature: bytes.subarray(expected - SIGNATURE_BYTES),
  };
}

/** The receipt, or why it is not one `parties.acker` signed for `parties.sender` in this session. */
export function openReceipt(bytes: Uint8Array, parties: ReceiptParties): Receipt | ReceiptRefusal {
  let decoded: ReturnType<typeof decodeReceipt>;
  try {
    decoded = decodeReceipt(bytes);
  } catch (error) {
    if (error instanceof ReceiptFormatError) return error.reason;
    throw error;
  }
  const { receipt, exceptionBytes, signature } = decoded;
  const input = receiptSigningInput(receipt, receipt.exceptions.length, exceptionBytes, parties);
  return ed25519Verify(parties.acker, input, signature) ? receipt : 'bad_signature';
}

function isPosition(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= MAX_BATCH_POSITION;
}

function isRefusalReason(code: number): code is RefusalReason {
  return code !== AckReason.NONE && isCode(AckReason, code);
}
