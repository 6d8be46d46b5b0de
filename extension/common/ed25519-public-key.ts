import { ed25519, ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';

/**
 * Whether 32 bytes are an Ed25519 public key that can stand for someone.
 * OpenSSL, which verifies every signature here, decodes keys leniently and
 * verifies without the cofactor: under the identity point 01 00..00 the
 * signature R = identity, S = 0 holds for every message. So a key that
 * enters from outside (host input, a pairing link, an mDNS TXT record, the
 * handshake) is refused, for the first reason that applies, when it is
 *
 *  - non_canonical: y >= p, or x = 0 with the sign bit set (RFC 8032
 *    §5.1.3 steps 1 and 4): a second spelling of a point, so one key would
 *    have several peer ids;
 *  - not_on_curve: no point has this y;
 *  - small_order: one of the eight points whose order divides 8. Nobody
 *    holds a secret for them, and anyone can make signatures they verify.
 *
 * Points of mixed order (a large-order part plus a small-order one) are
 * accepted: only the holder of the large part's secret can sign for them,
 * and refusing them costs a multiplication by the group order, about ten
 * times this whole check (docs/vectors/ed25519-public-keys.json, notes).
 *
 * A check costs about 0.1 ms (noble's point decoding, a square root in
 * BigInt arithmetic): it runs where a key enters, never per message nor
 * on keys the node already holds. Keys found acceptable are remembered,
 * so that a key heard again (a peer's LAN announcements) is checked once.
 * Where OpenSSL has just verified a signature under the key, as in the
 * handshake, refusalOfVerifiedKey gives the same verdict without decoding
 * the point.
 */
export type PublicKeyRefusal = 'non_canonical' | 'not_on_curve' | 'small_order';

const KEY_BYTES = 32;
const FIELD_PRIME = 2n ** 255n - 19n;
const SIGN_BIT = 0x80;

export type PublicKeyCheck = (publicKey: Uint8Array) => PublicKeyRefusal | null;

/**
 * `check`, remembering up to `limit` keys it accepted, by their hex, all
 * forgotten when full: whoever fills the memory with keys of its own only
 * costs the others a check again. Refusals are not remembered: they are
 * rare, and the sender picks them.
 */
export function rememberingAcceptedKeys(check: PublicKeyCheck, limit: number): PublicKeyCheck {
  const accepted = new Set<string>();
  return (publicKey) => {
    if (publicKey.length !== KEY_BYTES) throw new RangeError(`an Ed25519 public key has ${KEY_BYTES} bytes, got ${publicKey.length}`);
    const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, KEY_BYTES).toString('hex');
    if (accepted.has(id)) return null;
    const refusal = check(publicKey);
    if (refusal === null) {
      if (accepted.size >= limit) accepted.clear();
      accepted.add(id);
    }
    return refusal;
  };
}

export const ACCEPTED_KEYS_REMEMBERED = 4096;

export const publicKeyRefusal: PublicKeyCheck = rememberingAcceptedKeys(checkPublicKey, ACCEPTED_KEYS_REMEMBERED);

/** The check itself, on 32 bytes. */
export function checkPublicKey(publicKey: Uint8Array): PublicKeyRefusal | null {
  if (!isCanonical(publicKey)) return 'non_canonical';
  const point = decodePoint(publicKey);
  if (point === null) return 'not_on_curve';
  return point.isSmallOrder() ? 'small_order' : null;
}

/** The canonical encodings of the eight small-order points. */
const SMALL_ORDER_KEYS: ReadonlySet<string> = new Set(ED25519_TORSION_SUBGROUP);

/**
 * The verdict of checkPublicKey on a key under which OpenSSL has just
 * verified a signature, in about a microsecond instead of a tenth of a
 * millisecond. OpenSSL decodes the key as the first step of verifying
 * (ge_frombytes_vartime) and fails the signature when no point has that
 * y, so `not_on_curve` cannot apply; a canonical encoding of a
 * small-order point is one of eight, compared as bytes.
 */
export function refusalOfVerifiedKey(publicKey: Uint8Array): PublicKeyRefusal | null {
  if (publicKey.length !== KEY_BYTES) throw new RangeError(`an Ed25519 public key has ${KEY_BYTES} bytes, got ${publicKey.length}`);
  if (!isCanonical(publicKey)) return 'non_canonical';
  return SMALL_ORDER_KEYS.has(Buffer.from(publicKey.buffer, publicKey.byteOffset, KEY_BYTES).toString('hex')) ? 'small_order' : null;
}

/** RFC 8032 §5.1.3 steps 1 and 4: y < p, and no sign bit on x = 0. */
function isCanonical(publicKey: Uint8Array): boolean {
  const signed = ((publicKey[KEY_BYTES - 1] as number) & SIGN_BIT) !== 0;
  const y = littleEndian(publicKey) & ~(1n << 255n);
  if (y >= FIELD_PRIME) return false;
  // x is 0 exactly where y² = 1. noble refuses the signed zero too, but
  // with an error decodePoint could not tell from "not a point".
  return !(signed && (y === 1n || y === FIELD_PRIME - 1n));
}

/** Strict RFC 8032 decoding (zip215 false); after the encoding checks, "no x for this y" is the only way for it to fail. */
function decodePoint(publicKey: Uint8Array): ReturnType<typeof ed25519.Point.fromBytes> | null {
  try {
    return ed25519.Point.fromBytes(publicKey, false);
  } catch {
    return null;
  }
}

const DESCRIPTIONS: Record<PublicKeyRefusal, string> = {
  non_canonical: 'is not in the one canonical Ed25519 encoding (another spelling of a key)',
  not_on_curve: 'is not a point of the Ed25519 curve',
  small_order: 'is a small-order Ed25519 point, for which anyone can make valid signatures',
};

/** What is wrong with the key, to follow "the key" in a message. */
export function describePublicKeyRefusal(reason: PublicKeyRefusal): string {
  return DESCRIPTIONS[reason];
}

function littleEndian(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`);
}
