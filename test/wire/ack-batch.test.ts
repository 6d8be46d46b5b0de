import { createHash } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import t from 'tap';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { AckReason, AckStatus } from '../../extension/wire/ack';
import { ACK_BATCH_ENTRY_BYTES, MAX_ACK_BATCH_ENTRIES, openAckBatch, signAckBatch } from '../../extension/wire/ack-batch';
import { throwawayIdentity } from '../helpers/raw-peer';
import { oneBitFlips } from '../helpers/bit-flips';

const bob = throwawayIdentity();
const alice = throwawayIdentity();
const acks = [
  { messageId: new Uint8Array(16).fill(1), status: AckStatus.REFUSED, reason: AckReason.STALE_TIMESTAMP },
  { messageId: new Uint8Array(16).fill(2), status: AckStatus.DEFERRED, reason: AckReason.RATE_LIMITED },
  { messageId: new Uint8Array(16).fill(3), status: AckStatus.DUPLICATE, reason: AckReason.NONE },
] as const;

t.test('a batch opens only for its own acker and sender, unaltered, with every entry in order', async (t) => {
  const bytes = signAckBatch(acks, bob, alice.publicKey);
  t.equal(bytes.length, 2 + 3 * ACK_BATCH_ENTRY_BYTES + 64);
  t.same(openAckBatch(bytes, bob.publicKey, alice.publicKey), acks);
  t.equal(openAckBatch(bytes, alice.publicKey, alice.publicKey), null, 'another acker');
  t.equal(openAckBatch(bytes, bob.publicKey, bob.publicKey), null, 'another original sender');
  for (const [i, copy] of oneBitFlips(bytes)) t.equal(openAckBatch(copy, bob.publicKey, alice.publicKey), null, `bit flipped in byte ${i}`);
  t.equal(openAckBatch(bytes.subarray(0, bytes.length - 1), bob.publicKey, alice.publicKey), null, 'truncated');
  t.equal(openAckBatch(Buffer.concat([bytes, Uint8Array.of(0)]), bob.publicKey, alice.publicKey), null, 'trailing byte');
});

t.test('the signature is Ed25519 over the documented canonical string (checked with noble)', async (t) => {
  const bytes = signAckBatch(acks, bob, alice.publicKey);
  const entries = bytes.subarray(2, 2 + 3 * ACK_BATCH_ENTRY_BYTES);
  const canonical = [
    'P2P-COMM-ACKS1-ED25519-SHA256',
    peerIdFromPublicKey(bob.publicKey),
    peerIdFromPublicKey(alice.publicKey),
    createHash('sha256').update(entries).digest('hex'),
  ].join('\n');
  t.ok(ed25519.verify(bytes.subarray(bytes.length - 64), Buffer.from(canonical, 'utf8'), bob.publicKey));
});

t.test('batch sizes outside 1..MAX are refused on both sides', async (t) => {
  t.throws(() => signAckBatch([], bob, alice.publicKey), RangeError);
  const many = Array.from({ length: MAX_ACK_BATCH_ENTRIES + 1 }, () => acks[0]);
  t.throws(() => signAckBatch(many, bob, alice.publicKey), RangeError);
  const full = signAckBatch(many.slice(1), bob, alice.publicKey);
  t.equal(openAckBatch(full, bob.publicKey, alice.publicKey)?.length, MAX_ACK_BATCH_ENTRIES);
  const zero = Uint8Array.from(full);
  zero[0] = 0;
  zero[1] = 0;
  t.equal(openAckBatch(zero, bob.publicKey, alice.publicKey), null, 'a count of zero');
});

t.test('an unknown status or reason code makes the batch malformed', async (t) => {
  const bytes = signAckBatch(acks, bob, alice.publicKey);
  const badStatus = Uint8Array.from(bytes);
  badStatus[2 + 16] = 9;
  t.equal(openAckBatch(badStatus, bob.publicKey, alice.publicKey), null);
  const badReason = Uint8Array.from(bytes);
  badReason[2 + 17] = 200;
  t.equal(openAckBatch(badReason, bob.publicKey, alice.publicKey), null);
});
