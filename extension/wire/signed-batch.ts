import { HASH_BYTES, MerkleTree } from './merkle';
import { ed25519Verify, KEY_BYTES, SIGNATURE_BYTES } from './primitives';

/**
 * Protocol v2: a batch of messages under one signature (session message
 * 0x25; each message is a leaf, message-leaf.ts). The sender hashes its
 * messages into a Merkle tree (merkle.ts) and signs the root once,
 * with the leaf count, both ends and the time beside it; the receiver
 * rebuilds the tree from the leaves it got, checks that one signature, and
 * keeps each message's path (message-proof.ts), so that every message stays
 * verifiable alone. Leaves are opaque bytes here. Layout, integers
 * big-endian:
 *
 *   header: sender [32] | recipient [32] | time u64 (ms since the epoch) |
 *           leaf_count u16 (1..256) | signature [64]
 *   then leaf_count × (leaf_length u32 | leaf [leaf_length])
 *
 * The signature is Ed25519 by `sender` over 137 bytes, every field at a
 * fixed offset (SigV4-style: an algorithm tag first, every field bound, one
 * reading only):
 *
 *   "P2P-COMM-BATCH2-ED25519-SHA256" | 0x00 | sender | recipient | time u64 |
 *   leaf_count u16 | root [32]
 *
 * The root is never sent: the receiver computes it, so there is no second
 * copy to disagree with the leaves. Test vectors:
 * docs/vectors/protocol-v2.json.
 */
export const BATCH_ALGORITHM = 'P2P-COMM-BATCH2-ED25519-SHA256';
/** The format's leaf limit: a path is then at most 8 hashes. */
export const MAX_BATCH_LEAVES = 256;
/**
 * The format's size limit for a whole batch: room for one message of the
 * largest payload (1 MiB) with its fields, below the transport's default
 * frame limit (1 MiB + 64 KiB).
 */
export const MAX_BATCH_BYTES = 1024 * 1024 + 4096;
export const BATCH_HEADER_BYTES = 2 * KEY_BYTES + 8 + 2 + SIGNATURE_BYTES;
/** Each leaf's length prefix. */
export const LEAF_LENGTH_BYTES = 4;

const SIGNED_PREFIX = Buffer.from(`${BATCH_ALGORITHM}\0`, 'utf8');
const TIME_AT = 2 * KEY_BYTES;
const COUNT_AT = TIME_AT + 8;
const SIGNATURE_AT = COUNT_AT + 2;

export interface BatchHeader {
  sender: Uint8Array;
  recipient: Uint8Array;
  /** Milliseconds since the epoch, when the sender signed. */
  time: number;
  leafCount: number;
}

export interface SignedBatchHeader extends BatchHeader {
  signature: Uint8Array;
}

export interface SignedBatch {
  header: SignedBatchHeader;
  /** Views into the decoded bytes, in order. */
  leaves: Uint8Array[];
}

/** Why bytes are not a batch or a message proof. */
export type BatchFormatRefusal =
  | 'too_short'
  | 'too_large'
  | 'leaf_count_out_of_range'
  | 'time_out_of_range'
  | 'leaf_truncated'
  | 'trailing_bytes'
  | 'index_out_of_range'
  | 'wrong_path_length';

export class BatchFormatError extends Error {
  override name = 'BatchFormatError';

  constructor(
    readonly reason: BatchFormatRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** Why a well-formed batch does not hold. */
export type BatchRefusal = 'leaf_count_mismatch' | 'bad_signature';

/** The bytes the sender signs. */
export function batchSigningInput(header: BatchHeader, root: Uint8Array): Uint8Array {
  const input = Buffer.alloc(SIGNED_PREFIX.length + SIGNATURE_AT + HASH_BYTES);
  SIGNED_PREFIX.copy(input, 0);
  writeFields(input.subarray(SIGNED_PREFIX.length), header);
  input.set(root, SIGNED_PREFIX.length + SIGNATURE_AT);
  return input;
}

/** The batch as sent: header, then each leaf with its length. */
export function signBatch(
  leaves: readonly Uint8Array[],
  signer: { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array },
  recipient: Uint8Array,
  time: number,
): Uint8Array {
  return Buffer.concat(signBatchParts(leaves, signer, recipient, time));
}

/**
 * The same bytes as signBatch, in parts that refer to the leaves instead of
 * copying them: a session seals the parts as one message, so a large
 * message is not copied into a batch first.
 */
export function signBatchParts(
  leaves: readonly Uint8Array[],
  signer: { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array },
  recipient: Uint8Array,
  time: number,
): Uint8Array[] {
  const header = { sender: signer.publicKey, recipient, time, leafCount: leaves.length };
  assertHeader(header);
  const size = BATCH_HEADER_BYTES + leaves.reduce((sum, leaf) => sum + LEAF_LENGTH_BYTES + leaf.length, 0);
  if (size > MAX_BATCH_BYTES) throw new RangeError(`a batch is at most ${MAX_BATCH_BYTES} bytes, these leaves make ${size}`);
  const signature = signer.sign(batchSigningInput(header, MerkleTree.fromLeaves(leaves).root));
  const parts: Uint8Array[] = [encodeBatchHeader({ ...header, signature })];
  for (const leaf of leaves) {
    const length = Buffer.allocUnsafe(LEAF_LENGTH_BYTES);
    length.writeUInt32BE(leaf.length);
    parts.push(length, leaf);
  }
  return parts;
}

/** Splits a batch into its header and leaves; checks the form only, not the signature (checkBatch). */
export function decodeBatch(bytes: Uint8Array): SignedBatch {
  if (bytes.length > MAX_BATCH_BYTES) throw new BatchFormatError('too_large', `a batch of ${bytes.length} bytes exceeds the limit of ${MAX_BATCH_BYTES}`);
  if (bytes.length < BATCH_HEADER_BYTES + LEAF_LENGTH_BYTES) throw new BatchFormatError('too_short', `a batch of ${bytes.length} bytes is shorter than a header and one leaf`);
  const header = decodeBatchHeader(bytes.subarray(0, BATCH_HEADER_BYTES));
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const leaves: Uint8Array[] = [];
  let at = BATCH_HEADER_BYTES;
  for (let index = 0; index < header.leafCount; index += 1) {
    if (data.length - at < LEAF_LENGTH_BYTES) throw new BatchFormatError('leaf_truncated', `the batch ends before the length of leaf ${index}`);
    const length = data.readUInt32BE(at);
    at += LEAF_LENGTH_BYTES;
    if (data.length - at < length) throw new BatchFormatError('leaf_truncated', `leaf ${index} of ${length} bytes runs past the end of the batch`);
    leaves.push(bytes.subarray(at, at + length));
    at += length;
  }
  if (at !== data.length) throw new BatchFormatError('trailing_bytes', `${data.length - at} bytes follow the last of ${header.leafCount} leaves`);
  return { header, leaves };
}

/**
 * Null when `tree` is the tree of this header's batch: as many leaves as the
 * header counts, and the sender's signature over its root.
 */
export function checkBatch(header: SignedBatchHeader, tree: MerkleTree): BatchRefusal | null {
  if (tree.size !== header.leafCount) return 'leaf_count_mismatch';
  return ed25519Verify(header.sender, batchSigningInput(header, tree.root), header.signature) ? null : 'bad_signature';
}

export function encodeBatchHeader(header: SignedBatchHeader): Uint8Array {
  assertHeader(header);
  if (header.signature.length !== SIGNATURE_BYTES) throw new RangeError(`a signature is ${SIGNATURE_BYTES} bytes, not ${header.signature.length}`);
  // Every byte is written below (assertHeader checked the key lengths, the signature's is checked above).
  const out = Buffer.allocUnsafe(BATCH_HEADER_BYTES);
  writeFields(out, header);
  out.set(header.signature, SIGNATURE_AT);
  return out;
}

/** Exactly BATCH_HEADER_BYTES bytes; the fields are copied, not viewed. */
export function decodeBatchHeader(bytes: Uint8Array): SignedBatchHeader {
  if (bytes.length !== BATCH_HEADER_BYTES) throw new RangeError(`a batch header is ${BATCH_HEADER_BYTES} bytes, not ${bytes.length}`);
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const leafCount = data.readUInt16BE(COUNT_AT);
  if (leafCount < 1 || leafCount > MAX_BATCH_LEAVES) throw new BatchFormatError('leaf_count_out_of_range', `a batch holds 1 to ${MAX_BATCH_LEAVES} leaves, not ${leafCount}`);
  const time = Number(data.readBigUInt64BE(TIME_AT));
  if (!Number.isSafeInteger(time)) throw new BatchFormatError('time_out_of_range', 'the batch time is beyond what this node can represent exactly');
  return {
    sender: bytes.slice(0, KEY_BYTES),
    recipient: bytes.slice(KEY_BYTES, TIME_AT),
    time,
    leafCount,
    signature: bytes.slice(SIGNATURE_AT, BATCH_HEADER_BYTES),
  };
}

/** sender | recipient | time | leaf_count, as both the header and the signing input lay them out. */
function writeFields(out: Buffer, header: BatchHeader): void {
  out.set(header.sender, 0);
  out.set(header.recipient, KEY_BYTES);
  out.writeBigUInt64BE(BigInt(header.time), TIME_AT);
  out.writeUInt16BE(header.leafCount, COUNT_AT);
}

function assertHeader(header: BatchHeader): void {
  if (header.sender.length !== KEY_BYTES || header.recipient.length !== KEY_BYTES) throw new RangeError(`sender and recipient are ${KEY_BYTES}-byte keys`);
  if (!Number.isSafeInteger(header.time) || header.time < 0) throw new RangeError(`a batch time is a whole number of milliseconds since the epoch, not ${header.time}`);
  if (!Number.isInteger(header.leafCount) || header.leafCount < 1 || header.leafCount > MAX_BATCH_LEAVES) {
    throw new RangeError(`a batch holds 1 to ${MAX_BATCH_LEAVES} leaves, not ${header.leafCount}`);
  }
}
