import { fingerprintOf, peerIdFromPublicKey } from '../../extension/common/peer-id';
import type { TxtRecord } from '../../extension/discovery/txt-record';

/** A well-formed TXT claim for the key made of 32 copies of `byte`. */
export function claimFor(byte: number, displayName = `node ${byte}`): TxtRecord {
  const key = new Uint8Array(32).fill(byte);
  return { peerId: peerIdFromPublicKey(key), fingerprint: fingerprintOf(key), displayName };
}

/** TXT strings as they arrive on the wire, from key/value pairs in order. */
export function wire(fields: Record<string, string> | [string, string][]): Uint8Array[] {
  const pairs = Array.isArray(fields) ? fields : Object.entries(fields);
  return pairs.map(([key, value]) => Buffer.from(`${key}=${value}`, 'utf8'));
}
