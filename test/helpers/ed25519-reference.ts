/**
 * Edwards25519 in plain BigInt arithmetic, straight from RFC 8032 §5.1:
 * slow and written for reading, not for use. The public-key vectors are
 * made and re-checked with it so that they do not depend on the code they
 * test (extension/common/ed25519-public-key.ts, which uses noble).
 */

export const P = 2n ** 255n - 19n;
/** The order of the prime-order subgroup. */
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;

export function mod(a: bigint): bigint {
  const r = a % P;
  return r < 0n ? r + P : r;
}

function power(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

export const inverse = (a: bigint): bigint => power(a, P - 2n);

export const D = mod(-121665n * inverse(121666n));
/** A square root of -1 mod p: 2^((p-1)/4). */
const SQRT_M1 = power(2n, (P - 1n) / 4n);

export interface Point {
  x: bigint;
  y: bigint;
}

export const IDENTITY: Point = { x: 0n, y: 1n };

export function isOnCurve({ x, y }: Point): boolean {
  // -x² + y² = 1 + d x² y²
  return mod(-x * x + y * y - 1n - D * x * x * y * y) === 0n;
}

/** The complete addition law of a twisted Edwards curve with a = -1 and d not a square. */
export function add(a: Point, b: Point): Point {
  const t = mod(D * a.x * b.x * a.y * b.y);
  return {
    x: mod((a.x * b.y + a.y * b.x) * inverse(1n + t)),
    y: mod((a.y * b.y + a.x * b.x) * inverse(1n - t)),
  };
}

export function multiply(point: Point, scalar: bigint): Point {
  let result = IDENTITY;
  let addend = point;
  let k = scalar;
  while (k > 0n) {
    if (k & 1n) result = add(result, addend);
    addend = add(addend, addend);
    k >>= 1n;
  }
  return result;
}

export const same = (a: Point, b: Point): boolean => a.x === b.x && a.y === b.y;

/** x from y and the sign bit, as RFC 8032 §5.1.3 recovers it; null when no x exists. */
export function recoverX(y: bigint, sign: 0 | 1): bigint | null {
  const xx = mod((y * y - 1n) * inverse(D * y * y + 1n));
  let x = power(xx, (P + 3n) / 8n);
  if (mod(x * x - xx) !== 0n) x = mod(x * SQRT_M1);
  if (mod(x * x - xx) !== 0n) return null;
  if (Number(x & 1n) !== sign) x = mod(-x);
  return x;
}

export function encode(y: bigint, sign: 0 | 1): string {
  const bytes = Buffer.alloc(32);
  let v = y;
  for (let i = 0; i < 32; i += 1) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  bytes[31] = (bytes[31] as number) | (sign << 7);
  return bytes.toString('hex');
}

export function encodePoint(point: Point): string {
  return encode(point.y, Number(point.x & 1n) as 0 | 1);
}

export type Verdict = 'non_canonical' | 'not_on_curve' | 'small_order' | null;

/**
 * What a strict RFC 8032 decoder that also refuses the eight small-order
 * points says of an encoding; null for an acceptable key. Encoding faults
 * come first, then the curve, then the order.
 */
export function verdictOf(hex: string): Verdict {
  const bytes = Buffer.from(hex, 'hex');
  if (bytes.length !== 32) throw new Error(`a key has 32 bytes, ${hex} has ${bytes.length}`);
  const sign = ((bytes[31] as number) >> 7) as 0 | 1;
  let y = 0n;
  for (let i = 31; i >= 0; i -= 1) y = (y << 8n) | BigInt(i === 31 ? (bytes[i] as number) & 0x7f : (bytes[i] as number));
  if (y >= P) return 'non_canonical';
  const x = recoverX(y, sign);
  if (x === null) return 'not_on_curve';
  // RFC 8032 §5.1.3 step 4: x = 0 with the sign bit set is refused.
  if (x === 0n && sign === 1) return 'non_canonical';
  return same(multiply({ x, y }, 8n), IDENTITY) ? 'small_order' : null;
}

/** Whether a decodable point lies outside the prime-order subgroup (it has a torsion part). */
export function hasTorsion(hex: string): boolean {
  const bytes = Buffer.from(hex, 'hex');
  const sign = ((bytes[31] as number) >> 7) as 0 | 1;
  bytes[31] = (bytes[31] as number) & 0x7f;
  const y = BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`);
  const x = recoverX(mod(y), sign);
  if (x === null) throw new Error(`${hex} is not on the curve`);
  return !same(multiply({ x, y: mod(y) }, L), IDENTITY);
}
