/**
 * A node reached through the DHT has an address like any other: the
 * `dht:<DHT public key in hex>` it is dialled at, kept among a peer's
 * addresses and counted against by per-address limits. A node has one DHT
 * key, so a peer keeps at most one such address.
 */
export const DHT_ADDRESS_PREFIX = 'dht:';

/** A DHT key binding (wire/dht-key-binding.ts): key [32] | identity signature [64] | DHT key signature [64]. */
export const DHT_KEY_BINDING_BYTES = 160;

export function dhtAddress(dhtPublicKey: Uint8Array): string {
  return `${DHT_ADDRESS_PREFIX}${Buffer.from(dhtPublicKey).toString('hex')}`;
}

export function isDhtAddress(address: string): boolean {
  return address.startsWith(DHT_ADDRESS_PREFIX);
}

export function dhtKeyOf(address: string): Uint8Array {
  return new Uint8Array(Buffer.from(address.slice(DHT_ADDRESS_PREFIX.length), 'hex'));
}
