import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import t from 'tap';
import { MerkleTree } from '../../extension/wire/merkle';
import { checkMessage, decodeMessageProof, encodeMessageProof, messageProof } from '../../extension/wire/message-proof';
import { batchSigningInput, checkBatch, decodeBatch, signBatch } from '../../extension/wire/signed-batch';
import { identityFromSeed } from '../helpers/fixed-identity';
import { referenceLeafHash, referencePath, referenceRoot, referenceVerify } from '../helpers/merkle-reference';

/** docs/vectors/protocol-v2-draft.json: the signed batch and message proof of protocol v2, as drafted. */
const vectors = JSON.parse(readFileSync(join(__dirname, '..', '..', 'docs', 'vectors', 'protocol-v2-draft.json'), 'utf8'));
const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));
const hex = (data: Uint8Array): string => Buffer.from(data).toString('hex');
const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

interface BatchVector {
  name: string;
  leaves_utf8: string[];
  leaf_hashes: string[];
  root: string;
  signing_input: string;
  signature: string;
  encoded: string;
  proofs: { index: number; path: string[]; encoded: string }[];
}
const batches = vectors.batches as BatchVector[];

t.test('the vectors cover an odd batch and a batch of one', async (t) => {
  t.same(
    batches.map((b) => b.leaves_utf8.length),
    [5, 1],
  );
});

for (const v of batches) {
  t.test(`${v.name}: the project code reproduces the published bytes`, async (t) => {
    const sender = identityFromSeed(bytes(vectors.sender_seed));
    const recipient = identityFromSeed(bytes(vectors.recipient_seed));
    const leaves = v.leaves_utf8.map(text);
    const tree = MerkleTree.fromLeaves(leaves);
    t.same(leaves.map((_, i) => hex(tree.leafHash(i))), v.leaf_hashes);
    t.equal(hex(tree.root), v.root);
    t.equal(hex(signBatch(leaves, sender, recipient.publicKey, vectors.time_ms)), v.encoded);
    const batch = decodeBatch(bytes(v.encoded));
    t.equal(hex(batchSigningInput(batch.header, tree.root)), v.signing_input);
    t.equal(checkBatch(batch.header, MerkleTree.fromLeaves(batch.leaves)), null);
    for (const proof of v.proofs) {
      t.equal(hex(encodeMessageProof(messageProof(batch.header, tree, proof.index))), proof.encoded, `proof ${proof.index}`);
      t.equal(checkMessage(leaves[proof.index] as Uint8Array, decodeMessageProof(bytes(proof.encoded))), null);
    }
  });

  t.test(`${v.name}: an independent implementation (noble, RFC 6962/9162) reads them as documented`, async (t) => {
    const senderPublic = ed25519.getPublicKey(bytes(vectors.sender_seed));
    const recipientPublic = ed25519.getPublicKey(bytes(vectors.recipient_seed));
    t.equal(hex(senderPublic), vectors.sender_public);
    t.equal(hex(recipientPublic), vectors.recipient_public);
    const leaves = v.leaves_utf8.map(text);
    t.same(leaves.map((leaf) => hex(referenceLeafHash(leaf))), v.leaf_hashes, 'leaf hash = SHA-256(0x00 | leaf)');
    const root = referenceRoot(leaves);
    t.equal(hex(root), v.root, 'root = RFC 6962 MTH with 0x01 for inner nodes');

    const time = new Uint8Array(8);
    new DataView(time.buffer).setBigUint64(0, BigInt(vectors.time_ms));
    const count = Uint8Array.of(leaves.length >> 8, leaves.length & 0xff);
    const signingInput = cat(text('P2P-COMM-BATCH2-ED25519-SHA256'), Uint8Array.of(0), senderPublic, recipientPublic, time, count, root);
    t.equal(hex(signingInput), v.signing_input, 'tag | 0x00 | sender | recipient | time u64 | leaf_count u16 | root');
    t.equal(hex(ed25519.sign(signingInput, bytes(vectors.sender_seed))), v.signature, 'Ed25519 is deterministic: the same signature');

    // The batch, read by offsets: header [138], then (length u32 | leaf) per leaf.
    const encoded = bytes(v.encoded);
    const header = encoded.subarray(0, 138);
    t.equal(hex(header), hex(cat(senderPublic, recipientPublic, time, count, bytes(v.signature))), 'sender | recipient | time | leaf_count | signature');
    let at = 138;
    for (const leaf of leaves) {
      const length = new DataView(encoded.buffer, encoded.byteOffset + at, 4).getUint32(0);
      t.equal(hex(encoded.subarray(at + 4, at + 4 + length)), hex(leaf));
      at += 4 + length;
    }
    t.equal(at, encoded.length, 'nothing after the last leaf');

    for (const proof of v.proofs) {
      const path = referencePath(proof.index, leaves);
      t.same(path.map(hex), proof.path, `PATH(${proof.index}, D[${leaves.length}])`);
      const stored = bytes(proof.encoded);
      t.equal(hex(stored.subarray(0, 138)), hex(header), 'a proof starts with the batch header');
      const index = new DataView(stored.buffer, stored.byteOffset + 138, 2).getUint16(0);
      t.equal(index, proof.index, 'then the index u16');
      const storedPath = Array.from({ length: (stored.length - 140) / 32 }, (_, step) => stored.subarray(140 + 32 * step, 172 + 32 * step));
      t.same(storedPath.map(hex), proof.path, 'then the path, nearest sibling first');
      t.ok(referenceVerify(referenceLeafHash(leaves[index] as Uint8Array), index, leaves.length, storedPath, root), 'RFC 9162 verifies the inclusion');
      t.ok(ed25519.verify(stored.subarray(74, 138), signingInput, senderPublic), 'and noble the signature over the root it leads to');
    }
  });
}
