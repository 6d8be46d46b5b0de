import { randomBytes } from 'node:crypto';
import type { StaticIdentity } from '../../extension/wire/handshake';
import { encodeLeaf, type MessageLeaf } from '../../extension/wire/message-leaf';
import { openReceipt, type Receipt } from '../../extension/wire/receipt';
import { signBatch } from '../../extension/wire/signed-batch';

/** A text message's leaf: a fresh id and the current time unless given. */
export function textLeaf(content: string | Uint8Array, fields: Partial<MessageLeaf> = {}): Uint8Array {
  return encodeLeaf({
    messageId: randomBytes(16),
    createdAt: Date.now(),
    type: 'text',
    correlationId: null,
    payload: typeof content === 'string' ? Buffer.from(content, 'utf8') : content,
    ...fields,
  });
}

/** A signed batch of these leaves from `sender` to `recipient`, signed now unless `time` says otherwise. */
export function batchOf(sender: StaticIdentity, recipient: Uint8Array, leaves: readonly Uint8Array[], time = Date.now()): Uint8Array {
  return signBatch(leaves, sender, recipient, time);
}

/** `count` batches of `perBatch` valid text messages each, signed up front so that sending them costs no signing. */
export function signedBatches(sender: StaticIdentity, recipient: Uint8Array, count: number, perBatch = 1, payload = Buffer.from('flood')): Uint8Array[] {
  const time = Date.now();
  return Array.from({ length: count }, () => batchOf(sender, recipient, Array.from({ length: perBatch }, () => textLeaf(payload)), time));
}

/** The receipt `acker` signed for `sender` in the session `session`; throws when it does not hold. */
export function readReceipt(body: Uint8Array, acker: Uint8Array, sender: Uint8Array, session: Uint8Array): Receipt {
  const receipt = openReceipt(body, { acker, sender, session });
  if (typeof receipt === 'string') throw new Error(`the receipt does not hold: ${receipt}`);
  return receipt;
}

/** The hex ids of a receipt's exceptions, with status and reason. */
export function exceptionsOf(receipt: Receipt): { id: string; status: number; reason: number }[] {
  return receipt.exceptions.map((exception) => ({ id: Buffer.from(exception.messageId).toString('hex'), status: exception.status, reason: exception.reason }));
}
