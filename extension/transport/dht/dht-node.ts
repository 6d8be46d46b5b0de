import type HyperDHT from 'hyperdht';
import { DhtSocket } from './dht-socket';

export type DhtPath = 'holepunched' | 'relayed';

/**
 * Why a DHT connection failed. `holepunch_failed`: punching cannot work
 * from here, a relay is needed. `holepunch_aborted`: the punch gave up, which
 * may pass (hyperdht postpones a random-port punch to one per 20 s) or not
 * (a router that answers unsolicited packets itself can spoil any punch).
 */
export type DhtDialFailure = 'holepunch_failed' | 'holepunch_aborted' | 'peer_not_found' | 'relay_failed' | 'timeout' | 'unreachable' | 'closed';

export class DhtDialError extends Error {
  override name = 'DhtDialError';
  constructor(
    readonly reason: DhtDialFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface DhtNodeOptions {
  /**
   * Seeds of the node's DHT key pairs (derived from its identity seeds;
   * never an identity key itself): the current one first, which the node
   * dials with, then those of keys a rotation replaced, still listened
   * under until they retire (listenUnder changes the list).
   */
  seeds: readonly Uint8Array[];
  /** `host:port` DHT nodes to join through; null = hyperdht's public bootstrap nodes. */
  bootstrap: readonly string[] | null;
  /** Interface the UDP socket binds to. */
  host: string;
  /** Listen (announce this node under its DHT key) or only dial out. */
  announce: boolean;
  /** Longest a DHT connection attempt may take, lookup and hole punching included. */
  connectTimeoutMs: number;
  /** Longest close() waits to withdraw the announcement before it drops everything. */
  closeTimeoutMs: number;
  /** The firewall: whether a connection from this DHT key may proceed to the handshake. */
  admit: (remoteDhtKey: Uint8Array) => boolean;
  onConnection: (socket: DhtSocket) => void;
  /** hyperdht itself, loaded only when the DHT is used (its native addons are prepared first). */
  loadHyperDht: () => typeof HyperDHT;
}

/**
 * The node's place on the Hyperswarm DHT: a server under each of the
 * node's DHT keys (unless it only dials out) and outgoing connections to
 * peers' DHT keys, made under the current one.
 * hyperdht looks peers up, hole-punches UDP through NATs, and falls back to
 * a blind relay when given one. What runs over a connection is none of its
 * business: the same WebSocket upgrade and SIGMA handshake as on TCP.
 */
export class DhtNode {
  private dht: HyperDHT | null = null;
  /** Listening servers, by the hex of their key. */
  private readonly servers = new Map<string, HyperDHT.Server>();
  private keyPairs: HyperDHT.KeyPair[] = [];
  private hyperDht: typeof HyperDHT | null = null;
  /** Connections hyperdht opened itself, to relays: a peer stream whose packets go where one of these goes is relayed. */
  private readonly relayStreams = new Set<HyperDHT.NoiseSecretStream>();
  private closing = false;
  /**
   * Server changes run one after another: a rotation during the start (or
   * two in a row) would otherwise listen twice under one key, which
   * hyperdht refuses (KEYPAIR_ALREADY_USED).
   */
  private serverChanges: Promise<void> = Promise.resolve();

  constructor(private readonly options: DhtNodeOptions) {}

  /** The current DHT key: the one announced in hellos and links, and dialed with. */
  get publicKey(): Uint8Array | null {
    return this.keyPairs[0]?.publicKey ?? null;
  }

  get listening(): boolean {
    return this.servers.size > 0;
  }

  /** The DHT keys listened under, current first. */
  get listeningKeys(): Uint8Array[] {
    return this.keyPairs.filter((keyPair) => this.servers.has(hexOf(keyPair.publicKey))).map((keyPair) => keyPair.publicKey);
  }

  /** Joins the DHT and, when announcing, listens under the node's DHT key. */
  async start(): Promise<void> {
    const HyperDht = this.options.loadHyperDht();
    const relayStreams = this.relayStreams;
    let dialingPeer = false;
    // hyperdht reaches a relay through its own connect(): every connect this node does not make itself is one.
    class TrackingDht extends HyperDht {
      override connect(remotePublicKey: Uint8Array, options?: HyperDHT.ConnectOptions): HyperDHT.NoiseSecretStream {
        const stream = super.connect(remotePublicKey, options);
        if (!dialingPeer) {
          relayStreams.add(stream);
          stream.once('close', () => relayStreams.delete(stream));
        }
        return stream;
      }
    }
    this.hyperDht = HyperDht;
    this.keyPairs = this.options.seeds.map((seed) => HyperDht.keyPair(seed));
    const dht = new TrackingDht({
      keyPair: this.currentKeyPair(),
      host: this.options.host,
      // Never a routing node for other people's lookups and connections, however long it runs on an open network.
      ephemeral: true,
      bootstrap: [...(this.options.bootstrap ?? publicBootstrapNodes(HyperDht))],
    });
    this.dialPeer = (remoteKey, relayThrough) => {
      dialingPeer = true;
      try {
        // reusableSocket: a peer reached once is reached again over the same punched path while its socket lingers,
        // which spares a new punch (hyperdht allows one random-port punch per 20 s).
        return dht.connect(remoteKey, { keyPair: this.currentKeyPair(), relayThrough, reusableSocket: keptPathIsSafe(dht, remoteKey) });
      } finally {
        dialingPeer = false;
      }
    };
    this.dht = dht;
    try {
      await dht.ready();
      await this.matchServers(dht);
    } catch (error) {
      // A node that could not join is no node: dials fail at once rather than waiting on it.
      this.dht = null;
      await dht.destroy({ force: true }).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Follows the identity's keys: dials under the first seed's key pair from
   * now on, listens under each seed's, and closes the servers of keys no
   * longer listed (a retired key's address goes quiet).
   */
  async listenUnder(seeds: readonly Uint8Array[]): Promise<void> {
    const HyperDht = this.hyperDht;
    if (HyperDht === null || seeds.length === 0) return;
    this.keyPairs = seeds.map((seed) => HyperDht.keyPair(seed));
    const dht = this.dht;
    if (dht === null) return;
    await this.matchServers(dht);
  }

  /** One server per key pair listed when the change runs (not when it was asked for), after the changes before it. */
  private matchServers(dht: HyperDHT): Promise<void> {
    const change = this.serverChanges.then(async () => {
      if (!this.options.announce || this.closing || this.dht !== dht) return;
      const kept = new Set(this.keyPairs.map((keyPair) => hexOf(keyPair.publicKey)));
      for (const [key, server] of this.servers) {
        if (kept.has(key)) continue;
        this.servers.delete(key);
        await server.close();
      }
      for (const keyPair of this.keyPairs) await this.listenAs(dht, keyPair);
    });
    // A failed change is its caller's to report; the next one still runs.
    this.serverChanges = change.catch(() => undefined);
    return change;
  }

  private currentKeyPair(): HyperDHT.KeyPair {
    const current = this.keyPairs[0];
    if (current === undefined) throw new Error('DHT node: no key pair to use; give it at least one seed');
    return current;
  }

  private async listenAs(dht: HyperDHT, keyPair: HyperDHT.KeyPair): Promise<void> {
    if (this.servers.has(hexOf(keyPair.publicKey))) return;
    const server = dht.createServer({ firewall: (remoteKey) => !this.options.admit(remoteKey), reusableSocket: true }, (stream) => {
      // The DHT's handshake is done, but the session's still has to come: until then a stream error is just a close.
      stream.on('error', () => undefined);
      this.options.onConnection(new DhtSocket(stream));
    });
    await server.listen(keyPair);
    if (this.closing || this.dht !== dht) {
      await server.close();
      return;
    }
    this.servers.set(hexOf(keyPair.publicKey), server);
  }

  /**
   * Opens a DHT connection to the node listening under `remoteKey`:
   * hole-punched, or through `relay` when one is given (hyperdht still
   * tries to upgrade a relayed connection to a direct one).
   */
  dial(remoteKey: Uint8Array, relay: Uint8Array | null): Promise<DhtSocket> {
    const dht = this.dht;
    if (dht === null) return Promise.reject(new DhtDialError('closed', 'the DHT is not running'));
    const stream = this.dialPeer(remoteKey, relay === null ? null : Buffer.from(relay));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.destroy(new DhtDialError('timeout', `no DHT connection within ${this.options.connectTimeoutMs} ms`));
      }, this.options.connectTimeoutMs);
      const settle = (): void => {
        clearTimeout(timer);
        stream.off('open', onOpen);
        stream.off('error', onError);
        stream.off('close', onClose);
      };
      const onOpen = (): void => {
        settle();
        stream.on('error', () => undefined);
        resolve(new DhtSocket(stream));
      };
      const onError = (error: Error & { code?: string }): void => {
        settle();
        reject(error instanceof DhtDialError ? error : new DhtDialError(failureOf(error.code, dht.randomized), `DHT connection failed: ${error.message}`));
      };
      const onClose = (): void => {
        settle();
        reject(new DhtDialError('closed', 'the DHT connection closed before it opened'));
      };
      stream.once('open', onOpen);
      stream.once('error', onError);
      stream.once('close', onClose);
    });
  }

  /** Whether a connection's packets go straight to the peer or through a relay, now (a relayed one may be upgraded). */
  pathOf(socket: DhtSocket): DhtPath {
    const raw = socket.stream.rawStream;
    if (raw === null) return 'holepunched';
    for (const relay of this.relayStreams) {
      const via = relay.rawStream;
      if (via !== null && via.remoteHost === raw.remoteHost && via.remotePort === raw.remotePort) return 'relayed';
    }
    return 'holepunched';
  }

  /** DHT nodes this node knows of: 0 means the DHT is not reachable (yet). */
  knownNodes(): number {
    return this.dht?.toArray().length ?? 0;
  }

  /** The node's public address as the DHT sees it; null before it knows. */
  remoteAddress(): string | null {
    const address = this.dht?.remoteAddress() ?? null;
    return address === null ? null : `${address.host}:${address.port}`;
  }

  /**
   * Leaves the DHT: the announcement is withdrawn first, so that peers are
   * not sent to this address for the next 20 minutes (how long DHT nodes
   * keep a record), unless that takes longer than closeTimeoutMs.
   */
  async close(): Promise<void> {
    this.closing = true;
    const dht = this.dht;
    this.dht = null;
    this.servers.clear();
    if (dht === null) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), this.options.closeTimeoutMs);
    });
    const graceful = dht.destroy().then(
      () => 'done' as const,
      () => 'late' as const,
    );
    const outcome = await Promise.race([graceful, deadline]);
    clearTimeout(timer);
    if (outcome === 'late') await dht.destroy({ force: true });
  }

  private dialPeer: (remoteKey: Uint8Array, relayThrough: Buffer | null) => HyperDHT.NoiseSecretStream = () => {
    throw new DhtDialError('closed', 'the DHT is not running');
  };
}

function hexOf(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('hex');
}

/** The parts of hyperdht's internals keptPathIsSafe reads (hyperdht 6.34.0, pinned). */
interface KeptPaths {
  readonly socket: unknown;
  readonly _socketPool: { readonly routes: { get(publicKey: Uint8Array): { readonly socket: unknown } | null } };
}

/**
 * Whether a path kept from an earlier connection to this key may be
 * reused. hyperdht retries a kept path without catching its failure when
 * the path runs through the DHT's own socket (as on a LAN, or to a node
 * reachable unasked), in lib/connect.js retryRoute: a peer that no longer
 * listens there would turn into an unhandled rejection, which ends this
 * process. Such a path is not reused; a punched one, through a socket of
 * its own, is.
 */
function keptPathIsSafe(dht: HyperDHT, remoteKey: Uint8Array): boolean {
  const internals = dht as unknown as KeptPaths;
  return internals._socketPool.routes.get(remoteKey)?.socket !== internals.socket;
}

/**
 * hyperdht's public bootstrap nodes by their IP addresses alone. Its list
 * also names them (`ip@name:port`) so that a moved node is found again by
 * name, but that lookup cannot be cancelled: a node shutting down while
 * one is pending cannot exit until the resolver gives up, and the lookup
 * tells the DNS resolver that this machine uses the DHT. The pinned
 * hyperdht version pins these addresses.
 */
function publicBootstrapNodes(HyperDht: typeof HyperDHT): string[] {
  return HyperDht.BOOTSTRAP.map((node) => {
    const at = node.indexOf('@');
    return at === -1 ? node : `${node.slice(0, at)}:${node.slice(node.lastIndexOf(':') + 1)}`;
  });
}

/**
 * What a failed connection means for the next step. A punch aborted
 * because both NATs change ports per destination (hyperdht says so, or our
 * own NAT does and the punch gave up) needs a relay; from a NAT that keeps
 * its ports, an aborted punch may still succeed later.
 */
export function failureOf(code: string | undefined, ownNatRandomized: boolean): DhtDialFailure {
  switch (code) {
    case 'HOLEPUNCH_DOUBLE_RANDOMIZED_NATS':
      return 'holepunch_failed';
    case 'HOLEPUNCH_ABORTED':
    case 'HOLEPUNCH_PROBE_TIMEOUT':
    case 'CANNOT_HOLEPUNCH':
    case 'REMOTE_NOT_HOLEPUNCHABLE':
    case 'REMOTE_NOT_HOLEPUNCHING':
      return ownNatRandomized ? 'holepunch_failed' : 'holepunch_aborted';
    case 'PEER_NOT_FOUND':
      return 'peer_not_found';
    case 'RELAY_ABORTED':
      return 'relay_failed';
    default:
      return 'unreachable';
  }
}
