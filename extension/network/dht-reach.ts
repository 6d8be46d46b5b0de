import type HyperDHT from 'hyperdht';
import type { DhtConfig } from '../config';
import { TokenBucket } from '../common/token-bucket';
import type { NodeIdentity } from '../identity/node-identity';
import type { Logger } from '../log';
import type { RefusalCounters } from '../metrics/refusals';
import { dhtAddress, dhtKeyOf } from '../common/dht-address';
import type { DhtSocket } from '../transport/dht/dht-socket';
import { DhtDialError, DhtNode, type DhtPath } from '../transport/dht/dht-node';
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
  /** Signed on first use: a node with the DHT off, or only dialling, never needs it. */
  private binding: Uint8Array | null = null;
  private readonly strangers: TokenBucket;
  /** By peer id: see rememberSessionKey. */
  private readonly sessionKeys = new Map<string, string>();

  constructor(private readonly deps: DhtReachDeps) {
    this.strangers = new TokenBucket(deps.strangerBurst, deps.strangerPerMinute / 60);
  }

  get enabled(): boolean {
    return this.deps.config.mode !== 'off';
  }

  get announcing(): boolean {
    return this.deps.config.mode === 'on';
  }

  /** The configured relays, in the order they are tried. */
  get relays(): readonly Uint8Array[] {
    return this.deps.config.relays;
  }

  /**
   * The signed DHT key for links and hellos: only when other nodes can
   * reach this one through it, which a DHT that failed to start (a port it
   * cannot bind, an addon it cannot load) rules out.
   */
  advertisedBinding(): Uint8Array | null {
    if (!this.announcing || this.error !== null) return null;
    this.binding ??= signDhtKeyBinding(this.deps.identity);
    return this.binding;
  }

  /**
   * After a rotation, or once a replaced key retired: the hello's binding
   * is signed again by the current key, and the node listens under the
   * current DHT key and those of keys still in their grace period.
   */
  async followIdentity(): Promise<void> {
    this.binding = null;
    await this.node?.listenUnder(dhtSeedsOf(this.deps.identity));
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
      seeds: dhtSeedsOf(identity),
      bootstrap: config.bootstrap,
      announce: this.announcing,
      host: config.host,
      connectTimeoutMs: config.connectTimeoutMs,
      closeTimeoutMs: config.closeTimeoutMs,
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
      this.node = null;
      this.error = `the DHT did not start: ${(error as Error).message}`;
      logger.error(`${this.error}; peers are reached at their direct addresses only, and this node's links carry no DHT key`);
    }
  }

  /** A connection to the node at `address` (`dht:<key>`), hole-punched, or through `relay`. */
  dial(address: string, relay: Uint8Array | null): Promise<DhtSocket> {
    if (this.node === null) return Promise.reject(new DhtDialError('closed', this.error ?? 'the DHT is not running'));
    return this.node.dial(dhtKeyOf(address), relay);
  }

  /** The DHT keys this node listens under, current first; empty while it does not listen. */
  listeningKeys(): Uint8Array[] {
    return this.node?.listeningKeys ?? [];
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

  /**
   * The DHT key a trusted peer's session came in from. A peer that does not
   * announce itself has no DHT address to keep, but the firewall should
   * still let it in without taking from the strangers' budget.
   */
  rememberSessionKey(peerId: string, address: string): void {
    this.sessionKeys.set(peerId, address);
  }

  forgetSessionKey(peerId: string): void {
    this.sessionKeys.delete(peerId);
  }

  private isKnown(address: string): boolean {
    const { trust, pending } = this.deps;
    if (trust.isTrustedAddress(address) || pending.outgoing().some((request) => request.dhtAddress === address)) return true;
    for (const known of this.sessionKeys.values()) if (known === address) return true;
    return false;
  }
}

/** The current DHT seed first, then those of replaced keys not yet retired. */
function dhtSeedsOf(identity: NodeIdentity): Uint8Array[] {
  return [identity.dhtSeed, ...identity.retiring.map((key) => key.dhtSeed)];
}
