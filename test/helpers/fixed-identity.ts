import { sign } from 'node:crypto';
import type { StaticIdentity } from '../../extension/wire/handshake';
import { ed25519FromSeed } from '../../extension/wire/primitives';

/** An Ed25519 identity from a fixed seed, to reproduce test vectors. */
export function identityFromSeed(seed: Uint8Array): StaticIdentity {
  const { privateKey, publicKey } = ed25519FromSeed(seed);
  return { publicKey, sign: (message) => new Uint8Array(sign(null, message, privateKey)) };
}
