import { createHash } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { HASH_BYTES, leafHash, MerkleTree, nodeHash, pathLength, rootFromPath } from '../../extension/wire/merkle';
import { referenceLeafHash, referencePath, referenceRoot, referenceVerify } from '../helpers/merkle-reference';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const leavesOf = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => Buffer.from(`leaf ${i}`));
const sizes = [...Array.from({ length: 40 }, (_, i) => i + 1), 63, 64, 65, 127, 128, 129, 255, 256, 257];

t.test('root and every path match RFC 6962 as written, for even, odd and power-of-two sizes', async (t) => {
  for (const n of sizes) {
    const leaves = leavesOf(n);
    const tree = MerkleTree.fromLeaves(leaves);
    t.equal(tree.size, n);
    t.equal(hex(tree.root), hex(referenceRoot(leaves)), `root of ${n}`);
    for (let i = 0; i < n; i += 1) {
      const path = tree.path(i);
      if (hex(Buffer.concat(path)) !== hex(Buffer.concat(referencePath(i, leaves)))) t.fail(`path ${i} of ${n}`);
      if (path.length !== pathLength(i, n)) t.fail(`path length ${i} of ${n}`);
      if (hex(rootFromPath(tree.leafHash(i), i, n, path)) !== hex(tree.root)) t.fail(`path ${i} of ${n} leads elsewhere`);
      if (!referenceVerify(referenceLeafHash(leaves[i] as Uint8Array), i, n, path, tree.root)) t.fail(`RFC 9162 refuses path ${i} of ${n}`);
    }
  }
  t.equal(pathLength(0, 1), 0, 'a batch of one: the root is the leaf hash, the path is empty');
  t.equal(hex(MerkleTree.fromLeaves([Buffer.from('x')]).root), hex(leafHash(Buffer.from('x'))));
  t.equal(pathLength(255, 256), 8, '256 leaves: 8 hashes');
  t.equal(pathLength(256, 257), 1, 'the odd last leaf of 257 moves up alone to the top');
});

t.test('leaf and inner node hashes are SHA-256 with prefixes 0x00 and 0x01', async (t) => {
  const sha = (...parts: Uint8Array[]): string => createHash('sha256').update(Buffer.concat(parts)).digest('hex');
  const left = new Uint8Array(HASH_BYTES).fill(1);
  const right = new Uint8Array(HASH_BYTES).fill(2);
  t.equal(hex(leafHash(Buffer.from('abc'))), sha(Uint8Array.of(0), Buffer.from('abc')));
  t.equal(hex(nodeHash(left, right)), sha(Uint8Array.of(1), left, right));
  t.equal(hex(leafHash(new Uint8Array(0))), sha(Uint8Array.of(0)), 'an empty leaf is still a leaf');
});

t.test('an odd last leaf is never paired with itself: no two leaf lists share a root (CVE-2012-2459)', async (t) => {
  // Bitcoin's shape, for contrast: it pairs an odd last node with a copy of itself.
  const duplicatingRoot = (leaves: Uint8Array[]): string => {
    let level = leaves.map(leafHash);
    while (level.length > 1) {
      const above: Uint8Array[] = [];
      for (let at = 0; at < level.length; at += 2) above.push(nodeHash(level[at] as Uint8Array, (level[at + 1] ?? level[at]) as Uint8Array));
      level = above;
    }
    return hex(level[0] as Uint8Array);
  };
  for (const n of [3, 5, 6, 7, 9, 11, 13, 255]) {
    const leaves = leavesOf(n);
    const padded = [...leaves, leaves[n - 1] as Uint8Array];
    if (n % 2 === 1) t.equal(duplicatingRoot(leaves), duplicatingRoot(padded), `the duplicating shape gives ${n} and ${n + 1} leaves one root`);
    t.not(hex(MerkleTree.fromLeaves(leaves).root), hex(MerkleTree.fromLeaves(padded).root), `this tree does not, for ${n}`);
  }
});

t.test('an inner node presented as a leaf, or a leaf as an inner node, leads to another root', async (t) => {
  const leaves = leavesOf(4);
  const tree = MerkleTree.fromLeaves(leaves);
  const [h0, h1, h2, h3] = leaves.map(leafHash) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  // The 64 bytes inner node (0, 1) hashes, offered as one leaf of a two-leaf tree whose sibling is inner node (2, 3).
  const innerAsLeaf = Buffer.concat([h0, h1]);
  t.not(hex(leafHash(innerAsLeaf)), hex(nodeHash(h0, h1)), 'the same 64 bytes hash differently as a leaf and as a node');
  t.not(hex(rootFromPath(leafHash(innerAsLeaf), 0, 2, [nodeHash(h2, h3)])), hex(tree.root), 'so the two-leaf reading does not reach the root');
  t.not(hex(MerkleTree.fromLeaves([innerAsLeaf, Buffer.concat([h2, h3])]).root), hex(tree.root));
  // Without the prefixes the same forgery works, so this test can tell the difference.
  const bare = (...parts: Uint8Array[]): Uint8Array => createHash('sha256').update(Buffer.concat(parts)).digest();
  const [b0, b1, b2, b3] = leaves.map((leaf) => bare(leaf)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const bareFour = bare(bare(b0, b1), bare(b2, b3));
  const bareTwo = bare(bare(Buffer.concat([b0, b1])), bare(Buffer.concat([b2, b3])));
  t.equal(hex(bareTwo), hex(bareFour), 'unprefixed, two forged leaves reproduce the root of four');
  // A leaf taken for an inner node: its hash one level up, with a path one hash shorter, is refused by length.
  t.throws(() => rootFromPath(nodeHash(h0, h1), 0, 4, [nodeHash(h2, h3)]), RangeError, 'a path shorter than index and size call for');
  t.throws(() => rootFromPath(h0, 0, 4, [h1, nodeHash(h2, h3), h0]), RangeError, 'or longer');
});

t.test('a path proves its leaf only at its own index', async (t) => {
  for (const n of [2, 3, 5, 8, 13]) {
    const tree = MerkleTree.fromLeaves(leavesOf(n));
    for (let i = 0; i < n; i += 1) {
      for (let j = 0; j < n; j += 1) {
        if (j === i || pathLength(j, n) !== pathLength(i, n)) continue;
        if (hex(rootFromPath(tree.leafHash(i), j, n, tree.path(i))) === hex(tree.root)) t.fail(`leaf ${i}'s path verifies at ${j} of ${n}`);
      }
    }
  }
  t.pass('no path of distinct leaves verifies at another index');
});

t.test('the root alone does not bind the size: some paths fit two sizes, which is why the signature binds it', async (t) => {
  const three = MerkleTree.fromLeaves(leavesOf(3));
  // Leaf 0 of 3 and of 4: right, right. The path of 3 read as one of 4 reaches the same root.
  t.equal(pathLength(0, 3), pathLength(0, 4));
  t.equal(hex(rootFromPath(three.leafHash(0), 0, 4, three.path(0))), hex(three.root));
  // Leaf 2 of 3 moves up alone: its path of 1 does not fit 4, whose leaf 2 needs 2.
  t.throws(() => rootFromPath(three.leafHash(2), 2, 4, three.path(2)), RangeError);
});

t.test('properties: any leaves, any index: the path leads to the root, as RFC 9162 verifies it', async (t) => {
  // Sizes spread over the whole range, not biased to small arrays.
  const leavesArbitrary = fc.integer({ min: 1, max: 300 }).chain((n) => fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: n, maxLength: n }));
  fc.assert(
    fc.property(leavesArbitrary, fc.nat(), (leaves, pick) => {
      const tree = MerkleTree.fromLeaves(leaves);
      const index = pick % leaves.length;
      const path = tree.path(index);
      return (
        hex(tree.root) === hex(referenceRoot(leaves)) &&
        hex(rootFromPath(leafHash(leaves[index] as Uint8Array), index, leaves.length, path)) === hex(tree.root) &&
        referenceVerify(referenceLeafHash(leaves[index] as Uint8Array), index, leaves.length, path, tree.root)
      );
    }),
    { numRuns: 150, seed: 6962 },
  );
  t.pass('150 trees');
});

t.test('properties: a changed leaf, a changed path hash or another index never reach the root', async (t) => {
  const distinctLeaves = fc.uniqueArray(fc.uint8Array({ minLength: 1, maxLength: 24 }), { minLength: 2, maxLength: 70, selector: hex });
  fc.assert(
    fc.property(distinctLeaves, fc.nat(), fc.nat(), fc.nat(), (leaves, pick, other, bit) => {
      const n = leaves.length;
      const tree = MerkleTree.fromLeaves(leaves);
      const index = pick % n;
      const path = tree.path(index);
      const leaf = Uint8Array.from(leaves[index] as Uint8Array);
      leaf[bit % leaf.length] = (leaf[bit % leaf.length] as number) ^ (1 << bit % 8);
      const changedLeaf = hex(rootFromPath(leafHash(leaf), index, n, path)) !== hex(tree.root);
      let changedPath = true;
      if (path.length > 0) {
        const damaged = path.map((node) => Uint8Array.from(node));
        const node = damaged[bit % damaged.length] as Uint8Array;
        node[bit % HASH_BYTES] = (node[bit % HASH_BYTES] as number) ^ (1 << bit % 8);
        changedPath = hex(rootFromPath(tree.leafHash(index), index, n, damaged)) !== hex(tree.root);
      }
      const elsewhere = other % n;
      const otherIndex = elsewhere === index || pathLength(elsewhere, n) !== path.length || hex(rootFromPath(tree.leafHash(index), elsewhere, n, path)) !== hex(tree.root);
      return changedLeaf && changedPath && otherIndex;
    }),
    { numRuns: 300, seed: 9162 },
  );
  t.pass('300 attempts refused');
});

t.test('a tree has at least one leaf, and an index must be in it', async (t) => {
  t.throws(() => MerkleTree.fromLeaves([]), RangeError);
  const tree = MerkleTree.fromLeaves(leavesOf(3));
  t.throws(() => tree.path(3), RangeError);
  t.throws(() => tree.path(-1), RangeError);
  t.throws(() => pathLength(0, 0), RangeError);
  t.throws(() => pathLength(1.5, 3), RangeError);
});
