import fc from 'fast-check';

/**
 * Inputs for a fuzz target: random bytes, and valid seeds damaged the ways
 * storage and networks damage bytes (bit flips, truncation, insertion,
 * duplication, splicing of two seeds).
 */
export function fuzzInput(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const seed = fc.constantFrom(...seeds);
  const flip = fc.tuple(seed, fc.nat(), fc.integer({ min: 0, max: 7 })).map(([bytes, at, bit]) => {
    const copy = Uint8Array.from(bytes);
    if (copy.length > 0) copy[at % copy.length] = (copy[at % copy.length] as number) ^ (1 << bit);
    return copy;
  });
  const truncate = fc.tuple(seed, fc.nat()).map(([bytes, at]) => bytes.slice(0, bytes.length === 0 ? 0 : at % bytes.length));
  const insert = fc.tuple(seed, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([bytes, at, extra]) => {
    const cut = bytes.length === 0 ? 0 : at % bytes.length;
    return new Uint8Array(Buffer.concat([bytes.subarray(0, cut), extra, bytes.subarray(cut)]));
  });
  const splice = fc.tuple(seed, seed, fc.nat(), fc.nat()).map(([a, b, i, j]) => {
    return new Uint8Array(Buffer.concat([a.subarray(0, a.length === 0 ? 0 : i % a.length), b.subarray(b.length === 0 ? 0 : j % b.length)]));
  });
  return fc.oneof(fc.uint8Array({ maxLength: 2048 }), flip, truncate, insert, splice, seed.map((bytes) => Buffer.concat([bytes, bytes])));
}
