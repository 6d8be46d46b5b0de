import { fingerprintOf, peerIdFromPublicKey } from '../../extension/common/peer-id';
import type { TxtRecord } from '../../extension/discovery/txt-record';
import { ed25519FromSeed } from '../../extension/wire/primitives';

/** A well-formed TXT claim for the public key of the seed made of 32 copies of `byte`. */
export function claimFor(byte: number, displayName = `node ${byte}`): TxtRecord {
  return claimForKey(ed25519FromSeed(new Uint8Array(32).fill(byte)).publicKey, displayName);
}

/** A TXT claim for these key bytes, whatever they are, with the matching fingerprint. */
export function claimForKey(key: Uint8Array, displayName: string): TxtRecord {
  return { peerId: peerIdFromPublicKey(key), fingerprint: fingerprintOf(key), displayName };
}

/** TXT strings as they arrive on the wire, from key/value pairs in order. */
export function wire(fields: Record<string, string> | [string, string][]): Uint8Array[] {
  const pairs = Array.isArray(fields) ? fields : Object.entries(fields);
  return pairs.map(([key, value]) => Buffer.from(`${key}=${value}`, 'utf8'));
}
