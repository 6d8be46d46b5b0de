import { createHash } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import t from 'tap';
import { AckReason, AckStatus } from '../../extension/wire/delivery-codes';
import {
  decodeReceipt,
  MAX_RECEIPT_EXCEPTIONS,
  openReceipt,
  RECEIPT_EXCEPTION_BYTES,
  ReceiptFormatError,
  type ReceiptException,
  signReceipt,
} from '../../extension/wire/receipt';
import { oneBitFlips } from '../helpers/bit-flips';
import { throwawayIdentity } from '../helpers/raw-peer';

const bob = throwawayIdentity();
const alice = throwawayIdentity();
const session = new Uint8Array(32).fill(7);
const parties = { acker: bob.publicKey, sender: alice.publicKey, session };
const exceptions: ReceiptException[] = [
  { messageId: new Uint8Array(16).fill(1), status: AckStatus.REFUSED, reason: AckReason.STALE_TIMESTAMP },
  { messageId: new Uint8Array(16).fill(2), status: AckStatus.DEFERRED, reason: AckReason.RATE_LIMITED },
  { messageId: new Uint8Array(16).fill(3), status: AckStatus.REFUSED, reason: AckReason.ID_REUSED },
];
const receipt = { firstBatch: 4, lastBatch: 9, exceptions };

t.test('a receipt opens only for its own acker, sender and session, unaltered, with every exception in order', async (t) => {
  const bytes = signReceipt(receipt, bob, alice.publicKey, session);
  t.equal(bytes.length, 10 + 3 * RECEIPT_EXCEPTION_BYTES + 64);
  t.same(openReceipt(bytes, parties), receipt);
  t.equal(openReceipt(bytes, { ...parties, acker: alice.publicKey }), 'bad_signature', 'another acker');
  t.equal(openReceipt(bytes, { ...parties, sender: bob.publicKey }), 'bad_signature', 'another sender');
  t.equal(openReceipt(bytes, { ...parties, session: new Uint8Array(32) }), 'bad_signature', 'another session');
  for (const [i, copy] of oneBitFlips(bytes)) t.type(openReceipt(copy, parties), 'string', `refused with a reason: byte ${i}`);
  t.equal(openReceipt(bytes.subarray(0, bytes.length - 1), parties), 'wrong_length', 'truncated');
  t.equal(openReceipt(Buffer.concat([bytes, Uint8Array.of(0)]), parties), 'wrong_length', 'trailing byte');
});

t.test('honest traffic: no exceptions, 74 bytes for any number of batches', async (t) => {
  const bytes = signReceipt({ firstBatch: 0, lastBatch: 0xffff_ffff, exceptions: [] }, bob, alice.publicKey, session);
  t.equal(bytes.length, 74);
  t.same(openReceipt(bytes, parties), { firstBatch: 0, lastBatch: 0xffff_ffff, exceptions: [] });
});

t.test('the signature is Ed25519 over the documented 171-byte input (checked with noble)', async (t) => {
  const bytes = Buffer.from(signReceipt(receipt, bob, alice.publicKey, session));
  const entries = bytes.subarray(10, 10 + 3 * RECEIPT_EXCEPTION_BYTES);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt32BE(4, 0);
  fixed.writeUInt32BE(9, 4);
  fixed.writeUInt16BE(3, 8);
  t.same(bytes.subarray(0, 10), fixed, 'first, last and count lead the receipt');
  const input = Buffer.concat([Buffer.from('P2P-COMM-RECEIPT2-ED25519-SHA256\0'), bob.publicKey, alice.publicKey, session, fixed, createHash('sha256').update(entries).digest()]);
  t.equal(input.length, 171);
  t.ok(ed25519.verify(bytes.subarray(bytes.length - 64), input, bob.publicKey));
});

t.test('the decoder refuses each malformed part for what it is', async (t) => {
  const bytes = Buffer.from(signReceipt(receipt, bob, alice.publicKey, session));
  const reason = (copy: Uint8Array) => {
    try {
      decodeReceipt(copy);
      return null;
    } catch (error) {
      if (!(error instanceof ReceiptFormatError)) throw error;
      return error.reason;
    }
  };
  const changed = (at: number, value: number) => {
    const copy = Buffer.from(bytes);
    copy[at] = value;
    return copy;
  };
  t.equal(reason(bytes.subarray(0, 73)), 'wrong_length', 'shorter than the fixed part');
  t.equal(reason(changed(7, 3)), 'batch_range', 'last before first');
  const tooMany = Buffer.from(bytes);
  tooMany.writeUInt16BE(MAX_RECEIPT_EXCEPTIONS + 1, 8);
  t.equal(reason(tooMany), 'too_many_exceptions');
  for (const status of [0, 1, 2, 5]) t.equal(reason(changed(10 + 16, status)), 'bad_status', `status ${status} is not an exception`);
  for (const code of [0, 5, 15, 200]) t.equal(reason(changed(10 + 17, code)), 'bad_reason', `reason ${code}`);
});

t.test('sizes and ranges outside the format are refused by the signer', async (t) => {
  t.throws(() => signReceipt({ firstBatch: 2, lastBatch: 1, exceptions: [] }, bob, alice.publicKey, session), RangeError);
  t.throws(() => signReceipt({ firstBatch: 0, lastBatch: 2 ** 32, exceptions: [] }, bob, alice.publicKey, session), RangeError);
  const many = Array.from({ length: MAX_RECEIPT_EXCEPTIONS + 1 }, () => exceptions[0] as ReceiptException);
  t.throws(() => signReceipt({ firstBatch: 0, lastBatch: 3, exceptions: many }, bob, alice.publicKey, session), RangeError);
  const full = signReceipt({ firstBatch: 0, lastBatch: 3, exceptions: many.slice(1) }, bob, alice.publicKey, session);
  t.equal(full.length, 74 + MAX_RECEIPT_EXCEPTIONS * 18);
  const opened = openReceipt(full, parties);
  t.equal(typeof opened === 'string' ? opened : opened.exceptions.length, MAX_RECEIPT_EXCEPTIONS);
});
