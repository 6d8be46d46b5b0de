import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  randomBytes,
  verify,
  type KeyObject,
} from 'node:crypto';
import { BoundedMemo } from '../common/bounded-memo';

/**
 * The one fixed suite p2p-comm uses: X25519, Ed25519, HKDF-SHA256 and
 * ChaCha20-Poly1305, all from node:crypto (OpenSSL). Measured on these
 * machines, OpenSSL signs Ed25519 about 15x and verifies about 14x faster
 * than the pure-JS noble implementations, which the tests keep as a
 * cross-check. No negotiation: a different suite is a different protocol
 * version.
 */

export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const TAG_BYTES = 16;
export const NONCE_BYTES = 12;

export interface EphemeralKeyPair {
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

/*
 * Keys are made from random bytes, never with generateKeyPairSync: in
 * Node 20, exporting a key made by generateKeyPairSync can deadlock the
 * process when garbage collection runs during the export (the generation
 * job's destructor waits on a lock the export holds; seen here under the
 * fuzz run). Node 20 imports a JWK secret from `d` alone, ignoring the `x`
 * it insists on (about 70 us, against 400 us for its PKCS#8 decoder); the
 * Node 24 the single-file executables embed checks `x` against `d` and so
 * refuses that JWK, but decodes PKCS#8 as fast. Which import this Node
 * takes is tried once, at load. The public key is always derived, never
 * taken from the import: OpenSSL derives it from the secret as it imports
 * the key (the `x` above is not read), and reading it out of a JWK export
 * costs about 1 us, against some 30 us for another multiplication by the
 * base point (createPublicKey and an SPKI export take longer still).
 */
const UNUSED_X = Buffer.alloc(KEY_BYTES).toString('base64url');
/** The DER of a PKCS#8 OneAsymmetricKey up to its 32-byte secret (RFC 8410): only the algorithm OID differs. */
const PKCS8_PREFIX = {
  X25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  Ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
} as const;

export type PrivateKeyImport = (crv: 'X25519' | 'Ed25519', secret: Uint8Array) => KeyObject;

/** Both imports are exported so that the tests hold each to the RFC vectors, whichever this Node takes. */
export const fromJwkSecret: PrivateKeyImport = (crv, secret) =>
  createPrivateKey({ key: { kty: 'OKP', crv, d: base64url(secret), x: UNUSED_X }, format: 'jwk' });

export const fromPkcs8: PrivateKeyImport = (crv, secret) =>
  createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX[crv], secret]), format: 'der', type: 'pkcs8' });

export function jwkSecretImportWorks(): boolean {
  try {
    fromJwkSecret('X25519', Buffer.alloc(KEY_BYTES, 1));
    return true;
  } catch {
    return false;
  }
}

const privateKeyFrom: PrivateKeyImport = jwkSecretImportWorks() ? fromJwkSecret : fromPkcs8;

export function generateEphemeral(): EphemeralKeyPair {
  return ephemeralFromSecret(randomBytes(KEY_BYTES));
}

/** An ephemeral key from given bytes; fixed bytes only to reproduce the protocol's test vectors. */
export function ephemeralFromSecret(secret: Uint8Array): EphemeralKeyPair {
  const privateKey = privateKeyFrom('X25519', secret);
  return { publicKey: publicKeyOf(privateKey), privateKey };
}

/** The public key OpenSSL derived when it imported `privateKey`. */
function publicKeyOf(privateKey: KeyObject): Uint8Array {
  const { x } = privateKey.export({ format: 'jwk' });
  if (x === undefined) throw new Error(`a ${String(privateKey.asymmetricKeyType)} private key exported no public key`);
  return new Uint8Array(Buffer.from(x, 'base64url'));
}

/** An Ed25519 signing key from its 32-byte seed (RFC 8032). */
export function ed25519FromSeed(seed: Uint8Array): { privateKey: KeyObject; publicKey: Uint8Array } {
  const privateKey = privateKeyFrom('Ed25519', seed);
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

/**
 * X25519 shared secret. OpenSSL refuses an all-zero result (a low-order
 * peer point, which would let an attacker force a known key); that refusal
 * surfaces here as an exception the handshake turns into a refusal.
 */
export function x25519(privateKey: KeyObject, peerPublicKey: Uint8Array): Uint8Array {
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: base64url(peerPublicKey) }, format: 'jwk' });
  return new Uint8Array(diffieHellman({ privateKey, publicKey }));
}

export function ed25519PublicKey(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: base64url(publicKey) }, format: 'jwk' });
}

/**
 * Verification keys of the peers in use, so that a key object is not built
 * again for every message.
 */
const VERIFY_KEY_CACHE_LIMIT = 4096;
const verifyKeys = new BoundedMemo<string, KeyObject>(VERIFY_KEY_CACHE_LIMIT);

function verifyKeyOf(publicKey: Uint8Array): KeyObject {
  return verifyKeys.get(Buffer.from(publicKey).toString('base64'), () => ed25519PublicKey(publicKey));
}

export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    return verify(null, message, verifyKeyOf(publicKey), signature);
  } catch {
    // An encoding OpenSSL cannot even decode is simply not a valid signature.
    return false;
  }
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

/** `info` as text is its UTF-8 (the protocol's labels); bytes are used as they are. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: string | Uint8Array, length = KEY_BYTES): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, typeof info === 'string' ? Buffer.from(info, 'utf8') : info, length));
}

/**
 * The plaintext may come in parts, sealed as their concatenation: a large
 * message is then never copied just to put a type byte in front of it.
 */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[], ad: Uint8Array): Uint8Array {
  const parts = plaintext instanceof Uint8Array ? [plaintext] : plaintext;
  let length = 0;
  for (const part of parts) length += part.length;
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(ad, { plaintextLength: length });
  const sealed = parts.map((part) => cipher.update(part));
  cipher.final();
  sealed.push(cipher.getAuthTag());
  return Buffer.concat(sealed, length + TAG_BYTES);
}

/** Returns null when the ciphertext or its associated data was altered, or the key is wrong. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  if (sealed.length < TAG_BYTES) return null;
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(ad, { plaintextLength: sealed.length - TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const body = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    decipher.final();
  } catch {
    return null;
  }
  return body;
}
