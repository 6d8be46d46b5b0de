import type HyperDHT from 'hyperdht';
import type { DhtConfig } from '../config';
import { TokenBucket } from '../common/token-bucket';
import type { NodeIdentity } from '../identity/node-identity';
import type { Logger } from '../log';
import type { RefusalCounters } from '../metrics/refusals';
import { dhtAddress, dhtKeyOf } from '../common/dht-address';
import type { DhtSocket } from '../transport/dht/dht-socket';
import { DhtNode, type DhtPath } from '../transport/dht/dht-node';
import type { PendingRequests } from '../trust/pending-requests';
import type { TrustStore } from '../trust/trust-store';
import { checkDhtKeyBinding, signDhtKeyBinding } from '../wire/dht-key-binding';

export interface DhtReachDeps {
  identity: NodeIdentity;
  trust: TrustStore;
  pending: PendingRequests;
  refusals: RefusalCounters;
  logger: Logger;
  config: DhtConfig;
  /** Strangers' DHT connections share the consent budget's size: burst, and sustained rate per minute. */
  strangerBurst: number;
  strangerPerMinute: number;
  loadHyperDht: () => typeof HyperDHT;
  /** A DHT connection that passed the firewall, for the peer server to upgrade and handshake. */
  onConnection: (socket: DhtSocket) => void;
}

/**
 * This node on the DHT, as the network sees it: whether it announces,
 * what it puts in links and hellos (its DHT key, signed by its identity),
 * whom its DHT server lets through to the handshake, and the dialing of
 * `dht:<key>` addresses. The DHT is joined in the background: a node whose
 * bootstrap is unreachable still works on its direct addresses.
 */
export class DhtReach {
  private node: DhtNode | null = null;
  private error: string | null = null;
  private readonly binding: Uint8Array;
  private readonly strangers: TokenBucket;

  constructor(private readonly deps: DhtReachDeps) {
    this.binding = signDhtKeyBinding(deps.identity);
    this.strangers = new TokenBucket(deps.strangerBurst, deps.strangerPerMinute / 60);
  }

  get enabled(): boolean {
    return this.deps.config.mode !== 'off';
  }

  get announcing(): boolean {
    return this.deps.config.mode === 'on';
  }

  get hasRelays(): boolean {
    return this.deps.config.relays.length > 0;
  }

  /** The signed DHT key for links and hellos: only when other nodes can reach this one through it. */
  advertisedBinding(): Uint8Array | null {
    return this.announcing ? this.binding : null;
  }

  /** `dht:<key>` of a peer's binding, or null when the binding is not that peer's own. */
  addressFromBinding(binding: Uint8Array, peerKey: Uint8Array): string | null {
    const key = checkDhtKeyBinding(binding, peerKey);
    return key === null ? null : dhtAddress(key);
  }

  async start(): Promise<void> {
    if (!this.enabled) return;
    const { config, identity, logger } = this.deps;
    const node = new DhtNode({
      seed: identity.dhtSeed,
      bootstrap: config.bootstrap,
      announce: this.announcing,
      relays: config.relays,
      host: config.host,
      connectTimeoutMs: config.connectTimeoutMs,
      admit: (remoteKey) => this.admit(remoteKey),
      onConnection: this.deps.onConnection,
      loadHyperDht: this.deps.loadHyperDht,
    });
    this.node = node;
    try {
      await node.start();
      this.error = null;
      logger.info(
        this.announcing
          ? `reachable through the DHT as ${dhtAddress(node.publicKey ?? new Uint8Array(32))}`
          : 'on the DHT to dial out only (P2P_COMM_DHT=connect): peers cannot reach this node through it',
      );
    } catch (error) {
      // Closed while joining: nothing went wrong.
      if (this.node !== node) return;
      this.error = `the DHT did not start: ${(error as Error).message}`;
      logger.error(this.error);
    }
  }

  /** A connection to the node at `address` (`dht:<key>`), hole-punched or, when `relayed`, through a configured relay. */
  dial(address: string, relayed: boolean): Promise<DhtSocket> {
    if (this.node === null) return Promise.reject(new Error('the DHT is off'));
    return this.node.dial(dhtKeyOf(address), relayed);
  }

  pathOf(socket: DhtSocket): DhtPath {
    return this.node?.pathOf(socket) ?? 'holepunched';
  }

  status(): Record<string, unknown> {
    const { config } = this.deps;
    const key = this.node?.publicKey ?? null;
    return {
      mode: config.mode,
      public_key: key === null ? null : Buffer.from(key).toString('hex'),
      listening: this.node?.listening ?? false,
      known_nodes: this.node?.knownNodes() ?? 0,
      public_address: this.node?.remoteAddress() ?? null,
      bootstrap: config.bootstrap ?? 'public',
      relays: config.relays.map((relay) => Buffer.from(relay).toString('hex')),
      error: this.error,
    };
  }

  async close(): Promise<void> {
    const node = this.node;
    this.node = null;
    await node?.close();
  }

  /**
   * The DHT server's firewall, before any handshake: a key this node knows
   * (a trusted peer's, or one it asked to pair) always passes; any other
   * takes from the strangers' budget, so unknown keys (free to make) cost
   * this node at most the consent budget's worth of handshakes.
   */
  private admit(remoteKey: Uint8Array): boolean {
    const address = dhtAddress(remoteKey);
    if (this.isKnown(address)) return true;
    if (this.strangers.take()) return true;
    this.deps.refusals.count('network', 'dht_firewall_refused');
    return false;
  }

  private isKnown(address: string): boolean {
    const { trust, pending } = this.deps;
    for (const peer of trust.list()) if (peer.state === 'trusted' && peer.addresses.includes(address)) return true;
    return pending.outgoing().some((request) => request.dhtAddress === address || request.address === address);
  }
}
