import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import type { StaticIdentity } from '../../extension/wire/handshake';

/** DER prefix of a PKCS#8 Ed25519 private key (RFC 8410); the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An Ed25519 identity from a fixed seed, to reproduce test vectors. */
export function identityFromSeed(seed: Uint8Array): StaticIdentity {
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x as string;
  return { publicKey: new Uint8Array(Buffer.from(x, 'base64url')), sign: (message) => new Uint8Array(sign(null, message, privateKey)) };
}
