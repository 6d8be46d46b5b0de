import { hash } from 'node:crypto';

/**
 * A Merkle tree over SHA-256 with the shape and hashing of RFC 6962 §2.1
 * (Certificate Transparency), so that one signature over the root stands
 * for every leaf and each leaf can later be checked alone with its path:
 *
 *   leaf hash  = SHA-256(0x00 | leaf)
 *   inner node = SHA-256(0x01 | left | right)
 *
 * Built from the leaves up, pairing neighbours; an odd last node moves up a
 * level unchanged, never paired with a copy of itself. That is the same tree
 * as RFC 6962's split at the largest power of two below the size, and it
 * rules out the forgery of Bitcoin's tree (CVE-2012-2459), which pairs an
 * odd node with itself so that [a, b, c] and [a, b, c, c] share a root. The
 * distinct prefixes keep a leaf from being taken for an inner node or the
 * reverse: an inner node's 64 hashed bytes, presented as a leaf, hash to
 * something else. The size is not in the root; whoever signs a root signs
 * the size beside it, and a path is only accepted at exactly the length
 * that the leaf's index and the size call for.
 */
export const HASH_BYTES = 32;
const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = 0x01;

export function leafHash(leaf: Uint8Array): Uint8Array {
  return hash('sha256', Buffer.concat([LEAF_PREFIX, leaf]), 'buffer');
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = Buffer.allocUnsafe(1 + 2 * HASH_BYTES);
  input[0] = NODE_PREFIX;
  input.set(left, 1);
  input.set(right, 1 + HASH_BYTES);
  return hash('sha256', input, 'buffer');
}

type SiblingSide = 'left' | 'right' | 'none';

/**
 * Where the sibling of leaf `index` and of each of its ancestors sits, from
 * the leaves up to (not including) the root: 'none' where the node is the
 * odd last one of its level and moves up alone. One step per level, so the
 * path of a leaf has one hash per step that is not 'none'.
 */
function* siblingSides(index: number, size: number): Generator<SiblingSide> {
  for (let position = index, width = size; width > 1; position >>>= 1, width = (width + 1) >>> 1) {
    yield position % 2 === 1 ? 'left' : position + 1 < width ? 'right' : 'none';
  }
}

function assertLeafOf(index: number, size: number): void {
  if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`a tree has at least one leaf, not ${size}`);
  if (!Number.isInteger(index) || index < 0 || index >= size) throw new RangeError(`leaf ${index} is not in a tree of ${size}`);
}

/** How many hashes the path of leaf `index` in a tree of `size` leaves holds. */
export function pathLength(index: number, size: number): number {
  assertLeafOf(index, size);
  let length = 0;
  for (const side of siblingSides(index, size)) if (side !== 'none') length += 1;
  return length;
}

/**
 * The root that a leaf's hash and its path lead to. The caller has checked
 * that the index is in the tree and that the path has exactly
 * pathLength(index, size) hashes; anything else is a programming error.
 */
export function rootFromPath(hashOfLeaf: Uint8Array, index: number, size: number, path: readonly Uint8Array[]): Uint8Array {
  if (path.length !== pathLength(index, size)) throw new RangeError(`leaf ${index} of ${size} has a path of ${pathLength(index, size)} hashes, not ${path.length}`);
  let node = hashOfLeaf;
  let next = 0;
  for (const side of siblingSides(index, size)) {
    if (side === 'left') node = nodeHash(path[next++] as Uint8Array, node);
    else if (side === 'right') node = nodeHash(node, path[next++] as Uint8Array);
  }
  return node;
}

export class MerkleTree {
  /** Level 0 holds the leaf hashes, the last level the root alone. */
  private constructor(private readonly levels: readonly (readonly Uint8Array[])[]) {}

  static fromLeaves(leaves: readonly Uint8Array[]): MerkleTree {
    return MerkleTree.fromLeafHashes(leaves.map(leafHash));
  }

  static fromLeafHashes(leafHashes: readonly Uint8Array[]): MerkleTree {
    if (leafHashes.length === 0) throw new RangeError('a tree has at least one leaf');
    const levels: Uint8Array[][] = [[...leafHashes]];
    for (let level = levels[0] as Uint8Array[]; level.length > 1; ) {
      const above: Uint8Array[] = [];
      for (let at = 0; at + 1 < level.length; at += 2) above.push(nodeHash(level[at] as Uint8Array, level[at + 1] as Uint8Array));
      if (level.length % 2 === 1) above.push(level[level.length - 1] as Uint8Array);
      levels.push(above);
      level = above;
    }
    return new MerkleTree(levels);
  }

  get size(): number {
    return (this.levels[0] as readonly Uint8Array[]).length;
  }

  get root(): Uint8Array {
    return (this.levels[this.levels.length - 1] as readonly Uint8Array[])[0] as Uint8Array;
  }

  leafHash(index: number): Uint8Array {
    assertLeafOf(index, this.size);
    return (this.levels[0] as readonly Uint8Array[])[index] as Uint8Array;
  }

  /** The sibling hashes from leaf `index` up to the root, nearest first. */
  path(index: number): Uint8Array[] {
    assertLeafOf(index, this.size);
    const path: Uint8Array[] = [];
    let position = index;
    let depth = 0;
    for (const side of siblingSides(index, this.size)) {
      const level = this.levels[depth] as readonly Uint8Array[];
      if (side === 'left') path.push(level[position - 1] as Uint8Array);
      else if (side === 'right') path.push(level[position + 1] as Uint8Array);
      position >>>= 1;
      depth += 1;
    }
    return path;
  }
}
