import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import t from 'tap';
import { MerkleTree } from '../../extension/wire/merkle';
import {
  BATCH_HEADER_BYTES,
  BatchFormatError,
  type BatchFormatRefusal,
  batchSigningInput,
  checkBatch,
  decodeBatch,
  LEAF_LENGTH_BYTES,
  MAX_BATCH_BYTES,
  MAX_BATCH_LEAVES,
  signBatch,
  signBatchParts,
} from '../../extension/wire/signed-batch';
import { throwawayIdentity } from '../helpers/raw-peer';

const alice = throwawayIdentity();
const bob = throwawayIdentity();
const TIME = 1_893_456_000_123;
const leavesOf = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => Buffer.from(`envelope ${i}`));
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Null when the bytes decode and their signature holds; else why not. */
function verdict(bytes: Uint8Array): string | null {
  try {
    const batch = decodeBatch(bytes);
    return checkBatch(batch.header, MerkleTree.fromLeaves(batch.leaves));
  } catch (error) {
    if (error instanceof BatchFormatError) return error.reason;
    throw error;
  }
}

function refusal(bytes: Uint8Array): BatchFormatRefusal | 'decoded' {
  try {
    decodeBatch(bytes);
    return 'decoded';
  } catch (error) {
    if (error instanceof BatchFormatError) return error.reason;
    throw error;
  }
}

t.test('a batch decodes to its header and leaves, and holds for its sender only', async (t) => {
  const leaves = leavesOf(3);
  const bytes = signBatch(leaves, alice, bob.publicKey, TIME);
  t.equal(bytes.length, BATCH_HEADER_BYTES + leaves.reduce((sum, leaf) => sum + LEAF_LENGTH_BYTES + leaf.length, 0));
  const { header, leaves: decoded } = decodeBatch(bytes);
  t.same([hex(header.sender), hex(header.recipient), header.time, header.leafCount], [hex(alice.publicKey), hex(bob.publicKey), TIME, 3]);
  t.same(decoded.map(hex), leaves.map(hex));
  t.equal(decoded[0]?.buffer, bytes.buffer, 'leaves are views into the batch, not copies');
  const tree = MerkleTree.fromLeaves(decoded);
  t.equal(checkBatch(header, tree), null);
  t.equal(checkBatch({ ...header, sender: bob.publicKey }, tree), 'bad_signature', 'another sender');
  t.equal(checkBatch({ ...header, recipient: alice.publicKey }, tree), 'bad_signature', 'another recipient');
  t.equal(checkBatch({ ...header, time: TIME + 1 }, tree), 'bad_signature', 'another time');
  t.equal(checkBatch(header, MerkleTree.fromLeaves([...decoded].reverse())), 'bad_signature', 'the same leaves in another order');
  t.equal(checkBatch({ ...header, leafCount: 2 }, tree), 'leaf_count_mismatch', 'a count that is not the number of leaves');
});

t.test('in parts, a batch is the same bytes, and its parts are the leaves themselves, not copies', async (t) => {
  const leaves = leavesOf(4);
  const parts = signBatchParts(leaves, alice, bob.publicKey, TIME);
  t.same(hex(Buffer.concat(parts)), hex(signBatch(leaves, alice, bob.publicKey, TIME)));
  t.equal(parts.length, 1 + 2 * leaves.length, 'the header, then a length and a leaf for each');
  leaves.forEach((leaf, index) => t.equal(parts[2 + 2 * index], leaf, `leaf ${index} is referred to`));
});

t.test('a batch of one: the root is the leaf hash', async (t) => {
  const bytes = signBatch([Buffer.from('only')], alice, bob.publicKey, TIME);
  const batch = decodeBatch(bytes);
  t.equal(batch.leaves.length, 1);
  t.equal(checkBatch(batch.header, MerkleTree.fromLeaves(batch.leaves)), null);
  t.equal(bytes.length, BATCH_HEADER_BYTES + LEAF_LENGTH_BYTES + 4, '138-byte header, then the leaf with its length');
});

t.test('the signature is Ed25519 over the documented 137 bytes (checked with noble)', async (t) => {
  const leaves = leavesOf(5);
  const bytes = signBatch(leaves, alice, bob.publicKey, TIME);
  const root = MerkleTree.fromLeaves(leaves).root;
  const time = Buffer.alloc(8);
  time.writeBigUInt64BE(BigInt(TIME));
  const expected = Buffer.concat([Buffer.from('P2P-COMM-BATCH2-ED25519-SHA256\0'), alice.publicKey, bob.publicKey, time, Uint8Array.of(0, 5), root]);
  const input = batchSigningInput({ sender: alice.publicKey, recipient: bob.publicKey, time: TIME, leafCount: 5 }, root);
  t.equal(input.length, 137);
  t.equal(hex(input), hex(expected));
  t.ok(ed25519.verify(bytes.subarray(BATCH_HEADER_BYTES - 64, BATCH_HEADER_BYTES), expected, alice.publicKey));
  t.equal(hex(bytes.subarray(0, BATCH_HEADER_BYTES - 64)), hex(Buffer.concat([alice.publicKey, bob.publicKey, time, Uint8Array.of(0, 5)])), 'header fields in signing order');
});

t.test('every single bit flipped anywhere in a batch is refused', async (t) => {
  const bytes = signBatch(leavesOf(3), alice, bob.publicKey, TIME);
  t.equal(verdict(bytes), null);
  const reasons = new Set<string>();
  let accepted = 0;
  for (let at = 0; at < bytes.length; at += 1) {
    for (let bit = 0; bit < 8; bit += 1) {
      const copy = Uint8Array.from(bytes);
      copy[at] = (copy[at] as number) ^ (1 << bit);
      const reason = verdict(copy);
      if (reason === null) accepted += 1;
      else reasons.add(reason);
    }
  }
  t.equal(accepted, 0, `${bytes.length * 8} flips, none accepted`);
  t.same([...reasons].sort(), ['bad_signature', 'leaf_count_out_of_range', 'leaf_truncated', 'time_out_of_range', 'trailing_bytes'], 'each refused for what it broke');
});

t.test('the decoder says precisely why bytes are not a batch', async (t) => {
  const bytes = Buffer.from(signBatch(leavesOf(2), alice, bob.publicKey, TIME));
  t.equal(refusal(bytes.subarray(0, BATCH_HEADER_BYTES + LEAF_LENGTH_BYTES - 1)), 'too_short');
  t.equal(refusal(bytes.subarray(0, BATCH_HEADER_BYTES + LEAF_LENGTH_BYTES)), 'leaf_truncated', 'a length and no leaf');
  t.equal(refusal(bytes.subarray(0, bytes.length - 1)), 'leaf_truncated');
  t.equal(refusal(Buffer.concat([bytes, Uint8Array.of(0)])), 'trailing_bytes');
  t.equal(refusal(Buffer.concat([bytes, Uint8Array.of(0, 0, 0, 0)])), 'trailing_bytes', 'an empty leaf beyond the count');
  const zero = Buffer.from(bytes);
  zero.writeUInt16BE(0, 72);
  t.equal(refusal(zero), 'leaf_count_out_of_range');
  const over = Buffer.from(bytes);
  over.writeUInt16BE(MAX_BATCH_LEAVES + 1, 72);
  t.equal(refusal(over), 'leaf_count_out_of_range');
  const late = Buffer.from(bytes);
  late.writeBigUInt64BE(2n ** 53n, 64);
  t.equal(refusal(late), 'time_out_of_range');
  const huge = Buffer.from(bytes);
  huge.writeUInt32BE(0xffffffff, BATCH_HEADER_BYTES);
  t.equal(refusal(huge), 'leaf_truncated', 'a length beyond the bytes there are');
  t.equal(refusal(new Uint8Array(MAX_BATCH_BYTES + 1)), 'too_large');
});

t.test('limits: 1 to 256 leaves and MAX_BATCH_BYTES in all, on both sides', async (t) => {
  const full = signBatch(leavesOf(MAX_BATCH_LEAVES), alice, bob.publicKey, TIME);
  t.equal(verdict(full), null, '256 leaves');
  t.throws(() => signBatch(leavesOf(MAX_BATCH_LEAVES + 1), alice, bob.publicKey, TIME), RangeError);
  t.throws(() => signBatch([], alice, bob.publicKey, TIME), RangeError);
  const largest = new Uint8Array(MAX_BATCH_BYTES - BATCH_HEADER_BYTES - LEAF_LENGTH_BYTES);
  const biggest = signBatch([largest], alice, bob.publicKey, TIME);
  t.equal(biggest.length, MAX_BATCH_BYTES);
  t.equal(verdict(biggest), null, 'a batch of exactly MAX_BATCH_BYTES');
  t.throws(() => signBatch([largest, new Uint8Array(0)], alice, bob.publicKey, TIME), RangeError, 'one more leaf, even an empty one, is too many bytes');
  t.throws(() => signBatch(leavesOf(1), alice, bob.publicKey, -1), RangeError);
  t.throws(() => signBatch(leavesOf(1), alice, bob.publicKey, 2 ** 53), RangeError);
  t.throws(() => signBatch(leavesOf(1), alice, bob.publicKey.subarray(1), TIME), RangeError);
});

t.test('a last leaf repeated, or a leaf dropped, does not carry the signature over', async (t) => {
  const leaves = leavesOf(3);
  const bytes = signBatch(leaves, alice, bob.publicKey, TIME);
  const { header } = decodeBatch(bytes);
  const padded = [...leaves, leaves[2] as Uint8Array];
  t.equal(checkBatch({ ...header, leafCount: 4 }, MerkleTree.fromLeaves(padded)), 'bad_signature', 'the count is signed');
  t.equal(checkBatch(header, MerkleTree.fromLeaves(padded)), 'leaf_count_mismatch');
  t.equal(checkBatch({ ...header, leafCount: 2 }, MerkleTree.fromLeaves(leaves.slice(0, 2))), 'bad_signature');
  const reencoded = Buffer.concat([bytes, Uint8Array.of(0, 0, 0, leaves[2]?.length as number), leaves[2] as Uint8Array]);
  reencoded.writeUInt16BE(4, 72);
  t.equal(verdict(reencoded), 'bad_signature', 'on the wire too');
});

t.test('properties: any leaves round-trip and hold; another time or recipient does not', async (t) => {
  const leavesArbitrary = fc.integer({ min: 1, max: MAX_BATCH_LEAVES }).chain((n) => fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: n, maxLength: n }));
  fc.assert(
    fc.property(leavesArbitrary, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (leaves, time) => {
      const bytes = signBatch(leaves, alice, bob.publicKey, time);
      const { header, leaves: decoded } = decodeBatch(bytes);
      const tree = MerkleTree.fromLeaves(decoded);
      return (
        header.time === time &&
        hex(Buffer.concat(decoded)) === hex(Buffer.concat(leaves)) &&
        decoded.length === leaves.length &&
        checkBatch(header, tree) === null &&
        checkBatch({ ...header, time: time === 0 ? 1 : time - 1 }, tree) === 'bad_signature' &&
        checkBatch({ ...header, recipient: alice.publicKey }, tree) === 'bad_signature'
      );
    }),
    { numRuns: 100, seed: 2026 },
  );
  t.pass('100 batches');
});
