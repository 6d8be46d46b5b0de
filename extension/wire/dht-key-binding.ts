import { ed25519FromSeed, ed25519Verify, KEY_BYTES, SIGNATURE_BYTES } from './primitives';

/**
 * A node's statement that a DHT key is its own, carried in its pairing link
 * and its hello, so that what a link or a peer says about where to find a
 * node on the DHT cannot be forged by someone else. 96 bytes:
 *
 *   dht_public_key [32] | signature [64]
 *
 * The signature is Ed25519 by the node's identity key over
 *
 *   "p2p-comm dht key v1" | 0x00 | identity_public_key | dht_public_key
 *
 * The label and its terminator keep it apart from every other signature the
 * identity key makes. The DHT key pair itself is derived from the identity
 * seed (node-identity.ts), so the binding is the same on every start.
 */
export const DHT_KEY_LABEL = 'p2p-comm dht key v1';
export const DHT_KEY_BINDING_BYTES = KEY_BYTES + SIGNATURE_BYTES;
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

function signingInput(identityKey: Uint8Array, dhtKey: Uint8Array): Uint8Array {
  return Buffer.concat([SIGNED_PREFIX, identityKey, dhtKey]);
}

export function signDhtKeyBinding(identity: DhtKeySigner): Uint8Array {
  const dhtKey = dhtPublicKeyOf(identity.dhtSeed);
  return Buffer.concat([dhtKey, identity.sign(signingInput(identity.publicKey, dhtKey))]);
}

/** The DHT key the binding names, or null unless it is `identityKey`'s own statement. */
export function checkDhtKeyBinding(binding: Uint8Array, identityKey: Uint8Array): Uint8Array | null {
  if (binding.length !== DHT_KEY_BINDING_BYTES) return null;
  const dhtKey = binding.subarray(0, KEY_BYTES);
  if (!ed25519Verify(identityKey, signingInput(identityKey, dhtKey), binding.subarray(KEY_BYTES))) return null;
  return new Uint8Array(dhtKey);
}
