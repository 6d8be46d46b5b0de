import { HASH_BYTES, leafHash, type MerkleTree, pathLength, rootFromPath } from './merkle';
import { ed25519Verify } from './primitives';
import { BATCH_HEADER_BYTES, batchSigningInput, BatchFormatError, decodeBatchHeader, encodeBatchHeader, type SignedBatchHeader } from './signed-batch';

/**
 * Protocol v2: what a receiver keeps beside each message of a signed
 * batch (signed-batch.ts) so that the message stays verifiable alone, with
 * none of the other messages of its batch: the batch header, the message's
 * index and its Merkle path. Layout, integers big-endian:
 *
 *   batch header [138] | leaf_index u16 | path [32 × n]
 *
 * where n is fixed by the index and the header's leaf count (at most 8 for
 * 256 leaves), so a proof is 140 to 396 bytes. The header is the same bytes
 * for every message of a batch: a store may keep it once per batch. The
 * root is not stored: the message and its path lead to it, and the sender's
 * signature in the header holds only for that root.
 */
export const LEAF_INDEX_BYTES = 2;

export interface MessageProof {
  header: SignedBatchHeader;
  index: number;
  path: readonly Uint8Array[];
}

/** Why a message and its proof do not hold. */
export type ProofRefusal = 'index_out_of_range' | 'wrong_path_length' | 'bad_signature';

/** The proof of leaf `index` of a batch whose tree the receiver built and checked (checkBatch). */
export function messageProof(header: SignedBatchHeader, tree: MerkleTree, index: number): MessageProof {
  if (tree.size !== header.leafCount) throw new RangeError(`the tree has ${tree.size} leaves, the header counts ${header.leafCount}`);
  return { header, index, path: tree.path(index) };
}

export function encodeMessageProof(proof: MessageProof): Uint8Array {
  const refusal = shapeRefusal(proof);
  if (refusal !== null) throw new RangeError(`not a proof of leaf ${proof.index} of ${proof.header.leafCount}: ${refusal}`);
  // Every byte is written below (the shape was checked): no zero fill, and a small proof comes from Node's pool.
  const out = Buffer.allocUnsafe(BATCH_HEADER_BYTES + LEAF_INDEX_BYTES + proof.path.length * HASH_BYTES);
  out.set(encodeBatchHeader(proof.header), 0);
  out.writeUInt16BE(proof.index, BATCH_HEADER_BYTES);
  proof.path.forEach((node, step) => out.set(node, BATCH_HEADER_BYTES + LEAF_INDEX_BYTES + step * HASH_BYTES));
  return out;
}

/** Checks the form, including the path's exact length; the signature is checked by checkMessage. */
export function decodeMessageProof(bytes: Uint8Array): MessageProof {
  const pathAt = BATCH_HEADER_BYTES + LEAF_INDEX_BYTES;
  if (bytes.length < pathAt) throw new BatchFormatError('too_short', `a message proof of ${bytes.length} bytes is shorter than a header and an index`);
  const header = decodeBatchHeader(bytes.subarray(0, BATCH_HEADER_BYTES));
  const index = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readUInt16BE(BATCH_HEADER_BYTES);
  if (index >= header.leafCount) throw new BatchFormatError('index_out_of_range', `leaf ${index} is not in a batch of ${header.leafCount}`);
  const expected = pathLength(index, header.leafCount) * HASH_BYTES;
  if (bytes.length - pathAt !== expected) {
    throw new BatchFormatError('wrong_path_length', `leaf ${index} of ${header.leafCount} has a path of ${expected} bytes, not ${bytes.length - pathAt}`);
  }
  const path: Uint8Array[] = [];
  for (let at = pathAt; at < bytes.length; at += HASH_BYTES) path.push(bytes.slice(at, at + HASH_BYTES));
  return { header, index, path };
}

/**
 * Null when `leaf` is message `proof.index` of the batch its sender signed:
 * the leaf and the path lead to a root, and the header's signature holds for
 * that root. The caller still checks that the header names the sender and
 * recipient it expects.
 */
export function checkMessage(leaf: Uint8Array, proof: MessageProof): ProofRefusal | null {
  const refusal = shapeRefusal(proof);
  if (refusal !== null) return refusal;
  const root = rootFromPath(leafHash(leaf), proof.index, proof.header.leafCount, proof.path);
  return ed25519Verify(proof.header.sender, batchSigningInput(proof.header, root), proof.header.signature) ? null : 'bad_signature';
}

/** A proof built in memory is held to what the decoder enforces on bytes. */
function shapeRefusal(proof: MessageProof): Exclude<ProofRefusal, 'bad_signature'> | null {
  const { index, header, path } = proof;
  if (!Number.isInteger(index) || index < 0 || index >= header.leafCount) return 'index_out_of_range';
  if (path.length !== pathLength(index, header.leafCount) || path.some((node) => node.length !== HASH_BYTES)) return 'wrong_path_length';
  return null;
}
