import { sign } from 'node:crypto';
import { binaryDigest } from '../permissions/host/binary-signature';
import type { BinaryEntry } from '../permissions/host/manifest-rules';
import type { SigningKey } from './signing-key';

/**
 * The `sha256` and `signature` of a binary entry, as Nexus verifies them
 * (permissions/host/binary-signature.ts): the lowercase hex digest, and
 * the base64 Ed25519 signature over the raw 32-byte digest.
 */
export function signBinary(bytes: Uint8Array, key: Pick<SigningKey, 'privateKey'>): Pick<BinaryEntry, 'sha256' | 'signature'> {
  const digest = binaryDigest(bytes);
  return { sha256: digest.hex, signature: sign(null, digest.raw, key.privateKey).toString('base64') };
}
