import type HyperDHT from 'hyperdht';

/**
 * hyperdht, required on first use rather than imported: requiring it loads
 * its native addons (sodium-native, udx-native), which a node with the DHT
 * off never needs.
 */
export function loadHyperDht(): typeof HyperDHT {
  return require('hyperdht') as typeof HyperDHT;
}
