import { sign } from 'node:crypto';
import { DHT_KEY_BINDING_BYTES } from '../common/dht-address';
import { publicKeyRefusal } from '../common/ed25519-public-key';
import { ed25519FromSeed, ed25519Verify, KEY_BYTES, SIGNATURE_BYTES } from './primitives';

/**
 * A node's statement that a DHT key is its own, carried in its pairing link
 * and its hello, so that what a link or a peer says about where to find a
 * node on the DHT cannot be forged by someone else. 160 bytes:
 *
 *   dht_public_key [32] | identity_signature [64] | dht_signature [64]
 *
 * Both are Ed25519 signatures over
 *
 *   "p2p-comm dht key v1" | 0x00 | identity_public_key | dht_public_key
 *
 * the first by the identity key (this identity names that DHT key), the
 * second by the DHT key (whoever holds it agrees to stand for that
 * identity). Without the second, anyone could name a stranger's DHT key in
 * a link or hello of their own and have nodes call that stranger. The
 * label and its terminator keep the text apart from every other one either
 * key signs. The DHT key pair is derived from the identity seed
 * (node-identity.ts), so the binding is the same on every start.
 */
export const DHT_KEY_LABEL = 'p2p-comm dht key v1';
export { DHT_KEY_BINDING_BYTES };
const SIGNED_PREFIX = Buffer.from(`${DHT_KEY_LABEL}\0`, 'utf8');

export interface DhtKeySigner {
  readonly publicKey: Uint8Array;
  readonly dhtSeed: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** The public half of the DHT key pair a seed makes (the same Ed25519 derivation hyperdht uses). */
export function dhtPublicKeyOf(dhtSeed: Uint8Array): Uint8Array {
  return ed25519FromSeed(dhtSeed).publicKey;
}

export function dhtKeySigningInput(identityKey: Uint8Array, dhtKey: Uint8Array): Uint8Array {
  return Buffer.concat([SIGNED_PREFIX, identityKey, dhtKey]);
}

export function signDhtKeyBinding(identity: DhtKeySigner): Uint8Array {
  const dht = ed25519FromSeed(identity.dhtSeed);
  const input = dhtKeySigningInput(identity.publicKey, dht.publicKey);
  return Buffer.concat([dht.publicKey, identity.sign(input), sign(null, input, dht.privateKey)]);
}

/** The DHT key the binding names, or null unless both `identityKey` and that DHT key signed it. */
export function checkDhtKeyBinding(binding: Uint8Array, identityKey: Uint8Array): Uint8Array | null {
  if (binding.length !== DHT_KEY_BINDING_BYTES) return null;
  const dhtKey = binding.subarray(0, KEY_BYTES);
  // A key nobody can hold (small order: OpenSSL accepts a forged signature under it) names no one to call.
  if (publicKeyRefusal(dhtKey) !== null) return null;
  const input = dhtKeySigningInput(identityKey, dhtKey);
  if (!ed25519Verify(identityKey, input, binding.subarray(KEY_BYTES, KEY_BYTES + SIGNATURE_BYTES))) return null;
  if (!ed25519Verify(dhtKey, input, binding.subarray(KEY_BYTES + SIGNATURE_BYTES))) return null;
  return new Uint8Array(dhtKey);
}
