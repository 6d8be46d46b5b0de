import { createHash } from 'node:crypto';
import { PUBLIC_KEY_BYTES } from './peer-id';

/**
 * The safety number: 70 digits two people read to each other (on the phone,
 * side by side) to confirm that each node paired with the other's key and
 * not with someone in the middle. Both sides compute the same number for
 * their pair, whichever side they are on. Built like Signal's: each key
 * yields 35 digits from an iterated SHA-512, and the two halves are sorted
 * and joined. docs/protocol.md §14 specifies it byte for byte, with the work
 * it takes to forge; docs/vectors/safety-number-v1.json holds test vectors.
 *
 * There is deliberately no short form: a code short enough to read in one
 * breath can be matched by grinding keys unless both sides commit to a nonce
 * before revealing it, which this protocol does not do.
 */
export const SAFETY_NUMBER_VERSION = 1;
export const SAFETY_NUMBER_ITERATIONS = 5200;
export const SAFETY_NUMBER_DOMAIN = 'p2p-comm safety number';

/** 7 groups of 5 digits: 10^35 values, about 116 bits (6 groups would be under 100). */
const GROUPS_PER_KEY = 7;
const DIGITS_PER_GROUP = 5;
const BYTES_PER_GROUP = 5;
const GROUP_MODULUS = 100_000;

/**
 * Each key costs thousands of hash calls (a few milliseconds), and `peers`
 * shows one number per peer on every call: the halves of keys seen lately
 * are kept. A half depends on the key alone, so a kept value never goes stale.
 */
const MAX_REMEMBERED_HALVES = 4096;
const rememberedHalves = new Map<string, string>();

/** The 35 digits one public key contributes, without spaces. */
export function safetyNumberHalf(publicKey: Uint8Array): string {
  if (publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new Error(`an Ed25519 public key has ${PUBLIC_KEY_BYTES} bytes, got ${publicKey.length}`);
  }
  const id = Buffer.from(publicKey).toString('hex');
  const remembered = rememberedHalves.get(id);
  if (remembered !== undefined) return remembered;
  const half = digitsOf(stretchedDigest(publicKey));
  if (rememberedHalves.size >= MAX_REMEMBERED_HALVES) {
    const oldest = rememberedHalves.keys().next();
    if (oldest.done !== true) rememberedHalves.delete(oldest.value);
  }
  rememberedHalves.set(id, half);
  return half;
}

/** The number both people see for the pair: the two halves sorted, joined, in groups of 5 digits. */
export function safetyNumber(myPublicKey: Uint8Array, theirPublicKey: Uint8Array): string {
  const digits = [safetyNumberHalf(myPublicKey), safetyNumberHalf(theirPublicKey)].sort().join('');
  const groups: string[] = [];
  for (let at = 0; at < digits.length; at += DIGITS_PER_GROUP) groups.push(digits.slice(at, at + DIGITS_PER_GROUP));
  return groups.join(' ');
}

/** h = version u16 | key | domain; then h = SHA-512(h | key), SAFETY_NUMBER_ITERATIONS times. */
function stretchedDigest(publicKey: Uint8Array): Buffer {
  const version = Buffer.alloc(2);
  version.writeUInt16BE(SAFETY_NUMBER_VERSION);
  let digest = Buffer.concat([version, publicKey, Buffer.from(SAFETY_NUMBER_DOMAIN, 'ascii')]);
  for (let round = 0; round < SAFETY_NUMBER_ITERATIONS; round += 1) {
    digest = createHash('sha512').update(digest).update(publicKey).digest();
  }
  return digest;
}

/** Each group: 5 bytes read as a big-endian 40-bit number, mod 100000, zero-padded to 5 digits. */
function digitsOf(digest: Buffer): string {
  let digits = '';
  for (let group = 0; group < GROUPS_PER_KEY; group += 1) {
    const value = digest.readUIntBE(group * BYTES_PER_GROUP, BYTES_PER_GROUP) % GROUP_MODULUS;
    digits += String(value).padStart(DIGITS_PER_GROUP, '0');
  }
  return digits;
}
