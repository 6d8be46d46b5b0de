import { sha256 } from '@noble/hashes/sha2.js';

/**
 * RFC 6962 §2.1 (Merkle tree hash and audit paths) and RFC 9162 §2.1.3.2
 * (verifying an inclusion proof), written from the RFCs with noble's
 * SHA-256, recursively where the project builds bottom-up: the independent
 * reference that extension/wire/merkle.ts and the published vectors are
 * held to.
 */
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

export const referenceLeafHash = (leaf: Uint8Array): Uint8Array => sha256(concat(Uint8Array.of(0), leaf));
const referenceNodeHash = (left: Uint8Array, right: Uint8Array): Uint8Array => sha256(concat(Uint8Array.of(1), left, right));

/** The largest power of two smaller than n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]). */
export function referenceRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 1) return referenceLeafHash(leaves[0] as Uint8Array);
  const k = split(leaves.length);
  return referenceNodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

/** PATH(m, D[n]), nearest sibling first. */
export function referencePath(m: number, leaves: readonly Uint8Array[]): Uint8Array[] {
  if (leaves.length === 1) return [];
  const k = split(leaves.length);
  return m < k
    ? [...referencePath(m, leaves.slice(0, k)), referenceRoot(leaves.slice(k))]
    : [...referencePath(m - k, leaves.slice(k)), referenceRoot(leaves.slice(0, k))];
}

/** RFC 9162 §2.1.3.2, step by step. */
export function referenceVerify(leafHash: Uint8Array, index: number, size: number, path: readonly Uint8Array[], root: Uint8Array): boolean {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = referenceNodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn >>>= 1;
        sn >>>= 1;
      }
    } else {
      r = referenceNodeHash(r, p);
    }
    fn >>>= 1;
    sn >>>= 1;
  }
  return sn === 0 && Buffer.compare(r, root) === 0;
}
