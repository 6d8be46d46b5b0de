import { createHash, createPublicKey, verify } from 'node:crypto';
import { publicKeyRefusal } from '../../extension/common/ed25519-public-key';
import type { BinaryEntry } from './manifest-rules';

/**
 * The check Nexus runs on a downloaded extension binary before installing it
 * (src-tauri/src/extensions/signing.rs `verify_binary`), step by step and
 * in its order: the digest first, then the key, then the signature. The
 * signature is over the raw 32-byte SHA-256 digest, not over its hex
 * spelling, which several signing recipes sign instead.
 */

const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
/** Nexus's `SignatureError` is shown to the user behind this prefix. */
const FAILED = 'Signature verification failed: ';

export interface BinaryDigest {
  /** The 32 bytes Nexus verifies the signature over. */
  raw: Buffer;
  /** Lowercase hex, as the manifest's `sha256` must spell it. */
  hex: string;
}

export function binaryDigest(bytes: Uint8Array): BinaryDigest {
  const raw = createHash('sha256').update(bytes).digest();
  return { raw, hex: raw.toString('hex') };
}

/** Null when Nexus would accept `bytes` as the binary of `entry` signed by `authorPublicKey`; otherwise Nexus's message. */
export function verifyBinary(bytes: Uint8Array, entry: Pick<BinaryEntry, 'sha256' | 'signature'>, authorPublicKey: string): string | null {
  const digest = binaryDigest(bytes);
  // Compared exactly, as Nexus does: an uppercase digest is a mismatch.
  if (digest.hex !== entry.sha256) return `${FAILED}SHA-256 mismatch: expected ${entry.sha256}, got ${digest.hex}`;

  const publicKey = decodeStandardBase64(authorPublicKey);
  if (typeof publicKey === 'string') return `${FAILED}Invalid public key base64: ${publicKey}`;
  if (publicKey.length !== PUBLIC_KEY_BYTES) return `${FAILED}Public key must be exactly ${PUBLIC_KEY_BYTES} bytes`;
  // Nexus's key decoding refuses only bytes that are no curve point; it
  // accepts non-canonical and small-order encodings, so this does too.
  if (publicKeyRefusal(publicKey) === 'not_on_curve') {
    return `${FAILED}Invalid Ed25519 public key: the key is not a point of the Ed25519 curve`;
  }

  const signature = decodeStandardBase64(entry.signature);
  if (typeof signature === 'string') return `${FAILED}Invalid signature base64: ${signature}`;
  if (signature.length !== SIGNATURE_BYTES) return `${FAILED}Signature must be exactly ${SIGNATURE_BYTES} bytes`;

  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey.toString('base64url') }, format: 'jwk' });
  if (!verify(null, digest.raw, key, signature)) return `${FAILED}Ed25519 signature verification failed`;
  return null;
}

const BASE64_SYMBOL = /[A-Za-z0-9+/]/;
const BASE64_QUANTUM = 4;

/**
 * Decodes the way Nexus's decoder (the `base64` crate's STANDARD engine)
 * does: the standard alphabet, padding required and canonical, no
 * whitespace, unused trailing bits zero. Node's own decoder skips what it
 * does not understand, so a value it reads could still be refused by Nexus.
 * Returns the bytes, or what is wrong in that crate's words.
 */
export function decodeStandardBase64(text: string): Buffer | string {
  const data = text.replace(/=+$/, '');
  for (let offset = 0; offset < data.length; offset++) {
    const symbol = data[offset] as string;
    if (!BASE64_SYMBOL.test(symbol)) return `Invalid symbol ${symbol.charCodeAt(0)}, offset ${offset}.`;
  }
  // A whole number of quanta with at most two '=' is exactly the canonical padding.
  const wellPadded = text.length % BASE64_QUANTUM === 0 && text.length - data.length <= 2;
  if (!wellPadded) return 'Invalid padding';
  const bytes = Buffer.from(data, 'base64');
  // Re-encoding differs exactly when the last symbol carries non-zero unused bits.
  if (bytes.toString('base64') !== text) {
    const last = data.length - 1;
    return `Invalid last symbol ${data.charCodeAt(last)}, offset ${last}.`;
  }
  return bytes;
}
