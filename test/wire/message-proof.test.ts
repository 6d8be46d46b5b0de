import fc from 'fast-check';
import t from 'tap';
import { leafHash, MerkleTree, nodeHash, pathLength } from '../../extension/wire/merkle';
import { checkMessage, decodeMessageProof, encodeMessageProof, LEAF_INDEX_BYTES, type MessageProof, messageProof } from '../../extension/wire/message-proof';
import { BATCH_HEADER_BYTES, BatchFormatError, checkBatch, decodeBatch, MAX_BATCH_LEAVES, signBatch, type SignedBatchHeader } from '../../extension/wire/signed-batch';
import { throwawayIdentity } from '../helpers/raw-peer';

const alice = throwawayIdentity();
const bob = throwawayIdentity();
const TIME = 1_893_456_000_123;
const COUNT_AT = 72;
const leavesOf = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => Buffer.from(`envelope ${i}`));

/** What the receiver does: decode, rebuild the tree, check the signature once, keep each message's proof. */
function received(leaves: readonly Uint8Array[]): { header: SignedBatchHeader; tree: MerkleTree; proofs: Uint8Array[] } {
  const batch = decodeBatch(signBatch(leaves, alice, bob.publicKey, TIME));
  const tree = MerkleTree.fromLeaves(batch.leaves);
  if (checkBatch(batch.header, tree) !== null) throw new Error('the batch does not hold');
  return { header: batch.header, tree, proofs: batch.leaves.map((_, index) => encodeMessageProof(messageProof(batch.header, tree, index))) };
}

/** Null when the stored bytes prove the leaf; else why not. */
function verdict(leaf: Uint8Array, proof: Uint8Array): string | null {
  try {
    return checkMessage(leaf, decodeMessageProof(proof));
  } catch (error) {
    if (error instanceof BatchFormatError) return error.reason;
    throw error;
  }
}

function withIndex(proof: Uint8Array, index: number): Buffer {
  const copy = Buffer.from(proof);
  copy.writeUInt16BE(index, BATCH_HEADER_BYTES);
  return copy;
}

t.test('each message of a batch is verifiable alone from its leaf and its stored proof', async (t) => {
  for (const n of [1, 2, 3, 5, 16, 64, 255, 256]) {
    const leaves = leavesOf(n);
    const { proofs } = received(leaves);
    proofs.forEach((proof, index) => {
      if (proof.length !== BATCH_HEADER_BYTES + LEAF_INDEX_BYTES + 32 * pathLength(index, n)) t.fail(`size of proof ${index} of ${n}`);
      if (verdict(leaves[index] as Uint8Array, proof) !== null) t.fail(`proof ${index} of ${n}`);
      const decoded = decodeMessageProof(proof);
      if (Buffer.compare(encodeMessageProof(decoded), proof) !== 0) t.fail(`proof ${index} of ${n} does not encode back to itself`);
    });
  }
  t.equal(received(leavesOf(1)).proofs[0]?.length, 140, 'a batch of one: header and index, no path');
  t.equal(received(leavesOf(256)).proofs[0]?.length, 140 + 8 * 32, '256: eight hashes');
});

t.test('every single bit flipped in a proof or in its message is refused', async (t) => {
  const leaves = leavesOf(5);
  const { proofs } = received(leaves);
  const reasons = new Set<string>();
  let tried = 0;
  proofs.forEach((proof, index) => {
    const leaf = leaves[index] as Uint8Array;
    for (let at = 0; at < proof.length + leaf.length; at += 1) {
      for (let bit = 0; bit < 8; bit += 1) {
        const p = Uint8Array.from(proof);
        const l = Uint8Array.from(leaf);
        if (at < p.length) p[at] = (p[at] as number) ^ (1 << bit);
        else l[at - p.length] = (l[at - p.length] as number) ^ (1 << bit);
        const reason = verdict(l, p);
        tried += 1;
        if (reason === null) t.fail(`proof ${index}: bit ${bit} of byte ${at} flipped and still accepted`);
        else reasons.add(reason);
      }
    }
  });
  t.ok(tried > 5000, `${tried} flips, none accepted`);
  t.same([...reasons].sort(), ['bad_signature', 'index_out_of_range', 'leaf_count_out_of_range', 'time_out_of_range', 'wrong_path_length']);
});

t.test('a proof holds only at its own index', async (t) => {
  const n = 8;
  const leaves = leavesOf(n);
  const { proofs } = received(leaves);
  for (let i = 0; i < n; i += 1) {
    for (let j = 0; j < n; j += 1) {
      if (j !== i && verdict(leaves[i] as Uint8Array, withIndex(proofs[i] as Uint8Array, j)) !== 'bad_signature') t.fail(`leaf ${i} proven at ${j}`);
    }
  }
  t.equal(verdict(leaves[0] as Uint8Array, withIndex(proofs[0] as Uint8Array, n)), 'index_out_of_range');
  const five = received(leavesOf(5));
  t.equal(verdict(leavesOf(5)[0] as Uint8Array, withIndex(five.proofs[0] as Uint8Array, 4)), 'wrong_path_length', 'leaf 4 of 5 has a path of 1, leaf 0 of 3');
  t.equal(verdict(leaves[1] as Uint8Array, proofs[0] as Uint8Array), 'bad_signature', 'another message of the same batch');
});

t.test('a proof holds only for the count that was signed, even where its path fits another', async (t) => {
  const leaves = leavesOf(3);
  const { proofs } = received(leaves);
  const asFour = Buffer.from(proofs[0] as Uint8Array);
  asFour.writeUInt16BE(4, COUNT_AT);
  // Leaf 0 of 3 and of 4 take the same path: only the signed count tells them apart.
  t.equal(pathLength(0, 3), pathLength(0, 4));
  t.equal(verdict(leaves[0] as Uint8Array, asFour), 'bad_signature');
  const asTwo = Buffer.from(proofs[0] as Uint8Array);
  asTwo.writeUInt16BE(2, COUNT_AT);
  t.equal(verdict(leaves[0] as Uint8Array, asTwo), 'wrong_path_length');
  const lastAsFourth = withIndex(proofs[2] as Uint8Array, 3);
  lastAsFourth.writeUInt16BE(4, COUNT_AT);
  t.equal(verdict(leaves[2] as Uint8Array, lastAsFourth), 'wrong_path_length', 'the last leaf of 3, repeated as the fourth of 4');
});

t.test('second preimages: a repeated last leaf, or an inner node passed off as a message, are refused', async (t) => {
  const three = leavesOf(3);
  const signedThree = received(three);
  // Leaf 2 repeated as leaf 3 of a batch of 4, with the path such a batch would have, under the signature of 3.
  const padded = MerkleTree.fromLeaves([...three, three[2] as Uint8Array]);
  const repeat: MessageProof = { header: { ...signedThree.header, leafCount: 4 }, index: 3, path: padded.path(3) };
  t.equal(checkMessage(three[2] as Uint8Array, repeat), 'bad_signature');

  const four = leavesOf(4);
  const signedFour = received(four);
  const [h0, h1, h2, h3] = four.map(leafHash) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const innerAsMessage = Buffer.concat([h0, h1]);
  const asLeafOfTwo: MessageProof = { header: { ...signedFour.header, leafCount: 2 }, index: 0, path: [nodeHash(h2, h3)] };
  t.equal(checkMessage(innerAsMessage, asLeafOfTwo), 'bad_signature', 'read as a batch of two');
  const asLeafOfFour: MessageProof = { header: signedFour.header, index: 0, path: [nodeHash(h2, h3)] };
  t.equal(checkMessage(innerAsMessage, asLeafOfFour), 'wrong_path_length', 'read in the batch of four it came from');
  t.equal(checkMessage(innerAsMessage, { header: signedFour.header, index: 0, path: [h1, nodeHash(h2, h3)] }), 'bad_signature', 'at leaf 0, with leaf 0’s path');
});

t.test('a proof does not move to another batch', async (t) => {
  const leaves = leavesOf(4);
  const first = received(leaves);
  const second = decodeBatch(signBatch(leaves, alice, bob.publicKey, TIME + 1)).header;
  const proof = decodeMessageProof(first.proofs[1] as Uint8Array);
  t.equal(checkMessage(leaves[1] as Uint8Array, proof), null);
  t.equal(checkMessage(leaves[1] as Uint8Array, { ...proof, header: { ...proof.header, signature: second.signature } }), 'bad_signature', 'the same leaves, another batch’s signature');
  t.equal(checkMessage(leaves[1] as Uint8Array, { ...proof, header: { ...proof.header, sender: bob.publicKey } }), 'bad_signature', 'another sender');
});

t.test('the decoder says precisely why bytes are not a proof', async (t) => {
  const { proofs } = received(leavesOf(5));
  const proof = Buffer.from(proofs[1] as Uint8Array);
  const reason = (bytes: Uint8Array): string => {
    try {
      decodeMessageProof(bytes);
      return 'decoded';
    } catch (error) {
      if (error instanceof BatchFormatError) return error.reason;
      throw error;
    }
  };
  t.equal(reason(proof), 'decoded');
  t.equal(reason(proof.subarray(0, BATCH_HEADER_BYTES + 1)), 'too_short');
  t.equal(reason(proof.subarray(0, proof.length - 1)), 'wrong_path_length');
  t.equal(reason(proof.subarray(0, proof.length - 32)), 'wrong_path_length');
  t.equal(reason(Buffer.concat([proof, new Uint8Array(32)])), 'wrong_path_length');
  t.equal(reason(withIndex(proof, 5)), 'index_out_of_range');
  const zero = Buffer.from(proof);
  zero.writeUInt16BE(0, COUNT_AT);
  t.equal(reason(zero), 'leaf_count_out_of_range');
  const over = Buffer.from(proof);
  over.writeUInt16BE(MAX_BATCH_LEAVES + 1, COUNT_AT);
  t.equal(reason(over), 'leaf_count_out_of_range');
  const late = Buffer.from(proof);
  late.writeBigUInt64BE(2n ** 63n, 64);
  t.equal(reason(late), 'time_out_of_range');
});

t.test('a proof made in memory is held to the same shape as one decoded', async (t) => {
  const leaves = leavesOf(5);
  const { header, tree } = received(leaves);
  const good = messageProof(header, tree, 2);
  t.equal(checkMessage(leaves[2] as Uint8Array, good), null);
  t.equal(checkMessage(leaves[2] as Uint8Array, { ...good, index: -1 }), 'index_out_of_range');
  t.equal(checkMessage(leaves[2] as Uint8Array, { ...good, index: 2.5 }), 'index_out_of_range');
  t.equal(checkMessage(leaves[2] as Uint8Array, { ...good, path: good.path.slice(1) }), 'wrong_path_length');
  t.equal(checkMessage(leaves[2] as Uint8Array, { ...good, path: good.path.map((node) => node.subarray(1)) }), 'wrong_path_length', 'hashes of 31 bytes');
  t.throws(() => encodeMessageProof({ ...good, path: [] }), RangeError);
  t.throws(() => messageProof({ ...header, leafCount: 4 }, tree, 0), RangeError, 'a tree that is not the header’s');
});

t.test('properties: any batch, any message: its proof holds, and one flipped bit anywhere does not', async (t) => {
  const batchArbitrary = fc
    .integer({ min: 1, max: MAX_BATCH_LEAVES })
    .chain((n) => fc.tuple(fc.uniqueArray(fc.uint8Array({ minLength: 1, maxLength: 48 }), { minLength: n, maxLength: n, selector: (leaf) => Buffer.from(leaf).toString('hex') }), fc.nat(n - 1)));
  fc.assert(
    fc.property(batchArbitrary, fc.nat(), fc.nat(7), ([leaves, index], where, bit) => {
      const { proofs } = received(leaves);
      const proof = proofs[index] as Uint8Array;
      const leaf = leaves[index] as Uint8Array;
      if (verdict(leaf, proof) !== null) return false;
      const at = where % (proof.length + leaf.length);
      const p = Uint8Array.from(proof);
      const l = Uint8Array.from(leaf);
      if (at < p.length) p[at] = (p[at] as number) ^ (1 << bit);
      else l[at - p.length] = (l[at - p.length] as number) ^ (1 << bit);
      return verdict(l, p) !== null;
    }),
    { numRuns: 120, seed: 396 },
  );
  t.pass('120 batches');
});
