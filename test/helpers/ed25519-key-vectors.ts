import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { add, encode, encodePoint, hasTorsion, IDENTITY, inverse, L, mod, multiply, P, recoverX, same, verdictOf, type Point, type Verdict } from './ed25519-reference';

/**
 * Makes docs/vectors/ed25519-public-keys.json from the BigInt reference
 * curve alone. test/common/ed25519-public-key.test.ts checks that the file
 * is exactly what this makes. To write it again, from the repository root:
 *
 *   node_modules/esbuild/bin/esbuild test/helpers/ed25519-key-vectors.ts --bundle --platform=node --outfile=dist/key-vectors.cjs && node dist/key-vectors.cjs
 */

export type Flag = 'Ordinary' | 'EdgeCaseY' | 'MixedOrder' | 'SmallOrder' | 'NonCanonicalY' | 'NonCanonicalSign' | 'NotOnCurve';

export interface KeyVector {
  tcId: number;
  comment: string;
  key: string;
  result: 'valid' | 'invalid';
  flags: Flag[];
}

const FILE_IN_REPOSITORY = join('docs', 'vectors', 'ed25519-public-keys.json');
export const VECTORS_FILE = join(__dirname, '..', '..', FILE_IN_REPOSITORY);

const NOTES: Record<Flag, { bugType: string; description: string }> = {
  Ordinary: {
    bugType: 'BASIC',
    description: 'An ordinary public key: the canonical encoding of a point of the prime-order subgroup. Accepted.',
  },
  EdgeCaseY: {
    bugType: 'EDGE_CASE',
    description: 'A valid point whose y is at an edge of the canonical range (the smallest or largest y < p that is on the curve). Accepted: a decoder that compares y against p wrongly would refuse it.',
  },
  MixedOrder: {
    bugType: 'EDGE_CASE',
    description:
      'A point with a component in the prime-order subgroup and a non-zero small-order component (order 2, 4 or 8 times the subgroup order). Accepted: such a key is still bound to whoever knows the discrete logarithm of its prime-order part, so it lets no one else sign; every p2p-comm node verifies with the same cofactorless rule, so signatures on which cofactored and cofactorless verifiers would disagree give no node a different view; and refusing these keys needs a full scalar multiplication by the group order, about ten times the cost of the other checks, on every key that enters. Keys made by RFC 8032 key generation never have a small-order component.',
  },
  SmallOrder: {
    bugType: 'WEAK_PUBLIC_KEY',
    description:
      'One of the eight points whose order divides 8, in some encoding. Refused (small_order): nobody holds a secret for such a key and signatures that verify under it can be made by anyone; under the identity point 01 00..00, R = the identity and S = 0 is a valid signature of every message for a cofactorless verifier such as OpenSSL.',
  },
  NonCanonicalY: {
    bugType: 'MODIFIED_ENCODING',
    description:
      'The 255-bit y field holds a value >= p, a second spelling of the point with y - p (RFC 8032 §5.1.3 step 1 refuses it). Refused (non_canonical): one key would have several peer ids.',
  },
  NonCanonicalSign: {
    bugType: 'MODIFIED_ENCODING',
    description: 'x = 0 with the sign bit set, a second spelling of a point with x = 0 (RFC 8032 §5.1.3 step 4 refuses it). Refused (non_canonical).',
  },
  NotOnCurve: {
    bugType: 'INVALID_POINT',
    description: 'No x satisfies the curve equation for this y: the bytes name no point. Refused (not_on_curve).',
  },
};

/** The point with this y and sign bit, or null when there is none. */
function pointAt(y: bigint, sign: 0 | 1): Point | null {
  const x = recoverX(y, sign);
  return x === null ? null : { x, y };
}

/** The eight points of order dividing 8: the multiples of a point of order 8, found as the torsion part ([L]Q) of some curve point Q. */
function torsionPoints(): Point[] {
  for (let y = 2n; ; y += 1n) {
    const q = pointAt(y, 0);
    if (q === null) continue;
    const t = multiply(q, L);
    if (same(multiply(t, 4n), IDENTITY)) continue;
    return Array.from({ length: 8 }, (_, k) => multiply(t, BigInt(k)));
  }
}

const orderOf = (point: Point): number => [1, 2, 4, 8].find((n) => same(multiply(point, BigInt(n)), IDENTITY)) as number;

const hexOfY = (y: bigint): string => `0x${y.toString(16)}`;

export function buildVectors(): Record<string, unknown> {
  const tests: Omit<KeyVector, 'tcId'>[] = [];
  const push = (comment: string, key: string, result: 'valid' | 'invalid', flags: Flag[]): void => {
    tests.push({ comment, key, result, flags });
  };

  // Ordinary keys: RFC 8032 §7.1 TEST 1-3 public keys, and the base point B and -B.
  push('RFC 8032 TEST 1 public key', 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'valid', ['Ordinary']);
  push('RFC 8032 TEST 2 public key', '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', 'valid', ['Ordinary']);
  push('RFC 8032 TEST 3 public key', 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025', 'valid', ['Ordinary']);
  // RFC 8032 §5.1: B has y = 4/5 and a positive (even) x; its coordinates are given there in decimal.
  const B = { x: 15112221349535400772501151409588531511454012693041857206046113283949847762202n, y: 46316835694926478169428394003475163141307993866256225615783033603165251855960n };
  const base = pointAt(mod(4n * inverse(5n)), 0);
  if (base === null || !same(base, B)) throw new Error('the reference curve does not reproduce the base point');
  push('the base point B', encodePoint(B), 'valid', ['Ordinary']);
  push('-B (B with the sign bit set)', encodePoint({ x: P - B.x, y: B.y }), 'valid', ['Ordinary']);

  // Valid keys at the edges of the canonical y range.
  for (const [label, start, step] of [['smallest', 2n, 1n], ['largest', P - 2n, -1n]] as const) {
    for (let y = start; ; y += step) {
      const point = pointAt(y, 0);
      if (point === null || point.x === 0n || verdictOf(encodePoint(point)) !== null) continue;
      // Most curve points have a small-order component: said so in the flags.
      const flags: Flag[] = hasTorsion(encode(y, 0)) ? ['EdgeCaseY', 'MixedOrder'] : ['EdgeCaseY'];
      push(`the ${label} canonical y on the curve (y = ${hexOfY(y)}), sign 0`, encode(y, 0), 'valid', flags);
      push(`the ${label} canonical y on the curve (y = ${hexOfY(y)}), sign 1`, encode(y, 1), 'valid', flags);
      break;
    }
  }

  const torsion = torsionPoints().sort((a, b) => orderOf(a) - orderOf(b) || encodePoint(a).localeCompare(encodePoint(b)));
  // Mixed order: B plus a small-order point of each order 2, 4 and 8.
  for (const order of [2, 4, 8]) {
    const t = torsion.find((point) => orderOf(point) === order) as Point;
    push(`B + a point of order ${order}`, encodePoint(add(B, t)), 'valid', ['MixedOrder']);
  }

  // The eight small-order points, canonical.
  for (const point of torsion) {
    push(`small-order point of order ${orderOf(point)} (y = ${hexOfY(point.y)}), canonical`, encodePoint(point), 'invalid', ['SmallOrder']);
  }
  // Their other spellings: x = 0 with the sign bit set, and y + p where it fits in 255 bits.
  for (const point of torsion) {
    const order = orderOf(point);
    if (point.x === 0n) push(`small-order point of order ${order}, x = 0 with the sign bit set`, encode(point.y, 1), 'invalid', ['SmallOrder', 'NonCanonicalSign']);
    if (point.y + P < 2n ** 255n) {
      const sign = Number(point.x & 1n) as 0 | 1;
      push(`small-order point of order ${order}, y + p`, encode(point.y + P, sign), 'invalid', ['SmallOrder', 'NonCanonicalY']);
      if (point.x === 0n) push(`small-order point of order ${order}, y + p and the sign bit set`, encode(point.y + P, 1), 'invalid', ['SmallOrder', 'NonCanonicalY', 'NonCanonicalSign']);
    }
  }

  // y >= p: every y + p that fits in 255 bits, for y on the curve and of large order (both signs), or off it.
  for (let y = 0n; y + P < 2n ** 255n; y += 1n) {
    const point = pointAt(y, 0);
    if (point === null) {
      push(`y = p + ${y}, and y = ${y} is not on the curve either`, encode(y + P, 0), 'invalid', ['NonCanonicalY', 'NotOnCurve']);
    } else if (verdictOf(encode(y, 0)) === null) {
      push(`y = p + ${y}, a second spelling of a point of large order, sign 0`, encode(y + P, 0), 'invalid', ['NonCanonicalY']);
      push(`y = p + ${y}, a second spelling of a point of large order, sign 1`, encode(y + P, 1), 'invalid', ['NonCanonicalY']);
    }
  }

  // Not on the curve: the smallest and largest such canonical y, with either sign.
  for (const [label, start, step] of [['smallest', 0n, 1n], ['largest', P - 1n, -1n]] as const) {
    for (let y = start; ; y += step) {
      if (pointAt(y, 0) !== null) continue;
      push(`the ${label} y with no point (y = ${hexOfY(y)}), sign 0`, encode(y, 0), 'invalid', ['NotOnCurve']);
      push(`the ${label} y with no point (y = ${hexOfY(y)}), sign 1`, encode(y, 1), 'invalid', ['NotOnCurve']);
      break;
    }
  }

  const numbered = tests.map((test, index) => ({ tcId: index + 1, ...test }));
  for (const test of numbered) checkConsistent(test);
  return {
    algorithm: 'EDDSA',
    curve: 'edwards25519',
    schema: 'p2p-comm ed25519 public key acceptance, version 1',
    numberOfTests: numbered.length,
    header: [
      'Ed25519 public keys as p2p-comm accepts or refuses them as identities: in peer ids given by the host, in pairing links, in mDNS TXT records and in the handshake (docs/protocol.md).',
      'Keys are 32 bytes in hex, RFC 8032 §5.1.2 encoding. A refused key is refused for the first of these that applies: non_canonical (flags NonCanonicalY, NonCanonicalSign), not_on_curve (NotOnCurve), small_order (SmallOrder).',
      'Made from a BigInt computation of the curve independent of the code under test (test/helpers/ed25519-key-vectors.ts).',
    ],
    notes: NOTES,
    testGroups: [{ type: 'Ed25519PublicKey', tests: numbered }],
  };
}

/** The reason a vector's flags give, in the order the checks run. */
export function reasonOfFlags(flags: readonly Flag[]): Verdict {
  if (flags.includes('NonCanonicalY') || flags.includes('NonCanonicalSign')) return 'non_canonical';
  if (flags.includes('NotOnCurve')) return 'not_on_curve';
  if (flags.includes('SmallOrder')) return 'small_order';
  return null;
}

/** Each vector's verdict, flags and torsion claim agree with the reference curve. */
export function checkConsistent(test: KeyVector): void {
  const verdict = verdictOf(test.key);
  const expected = reasonOfFlags(test.flags);
  if (verdict !== expected || (verdict === null) !== (test.result === 'valid')) {
    throw new Error(`tcId ${test.tcId}: the reference says ${String(verdict)}, the vector ${test.result} ${test.flags.join(',')}`);
  }
  if (verdict === null && hasTorsion(test.key) !== test.flags.includes('MixedOrder')) {
    throw new Error(`tcId ${test.tcId}: the torsion part disagrees with the MixedOrder flag`);
  }
}

if (require.main === module) {
  // Run from the repository root: bundled, this file no longer sits in test/helpers.
  writeFileSync(FILE_IN_REPOSITORY, `${JSON.stringify(buildVectors(), null, 2)}\n`);
}
