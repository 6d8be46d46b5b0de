/**
 * The part of hyperdht's API (and of the Noise stream it returns) that
 * p2p-comm uses; the package ships no type declarations.
 */
declare module 'hyperdht' {
  import type { EventEmitter } from 'node:events';

  namespace HyperDHT {
    interface KeyPair {
      publicKey: Buffer;
      secretKey: Buffer;
    }

    /** The UDX stream under a connection: where its packets go now. */
    interface RawStream extends EventEmitter {
      readonly remoteHost: string | null;
      readonly remotePort: number;
    }

    /** An end-to-end encrypted (Noise) stream to a peer; a streamx Duplex. */
    interface NoiseSecretStream extends EventEmitter {
      readonly remotePublicKey: Buffer | null;
      readonly publicKey: Buffer;
      readonly rawStream: RawStream | null;
      readonly destroyed: boolean;
      write(data: Uint8Array): boolean;
      end(): void;
      destroy(error?: Error): void;
      pause(): void;
      resume(): void;
      setKeepAlive(ms: number): void;
    }

    interface ServerOptions {
      /** Return true to refuse the connection. */
      firewall?: (remotePublicKey: Buffer, remotePayload: unknown, clientAddress: { host: string; port: number }) => boolean;
      /** false: never hole-punch, answer only directly or through a relay. */
      holepunch?: boolean;
      /** Whether to offer LAN addresses to clients. */
      shareLocalAddress?: boolean;
      /** Keep the path a client reached this server by, to reach it back without a new punch. */
      reusableSocket?: boolean;
    }

    interface Server extends EventEmitter {
      readonly publicKey: Buffer;
      listen(keyPair?: KeyPair): Promise<void>;
      close(): Promise<void>;
      address(): { host: string | null; port: number | null; publicKey: Buffer } | null;
    }

    interface ConnectOptions {
      keyPair?: KeyPair;
      /** Blind relay public key(s) to pair through when no direct path exists. */
      relayThrough?: Buffer | Buffer[] | null;
      /** Asked before punching (both firewalls known); false aborts the punch. */
      holepunch?: (remoteFirewall: number, localFirewall: number, remoteAddresses: unknown[], localAddresses: unknown[]) => boolean;
      /** false: never try the peer's LAN addresses. */
      localConnection?: boolean;
      /** Reuse the path of an earlier connection to the same key, if its socket is still open. */
      reusableSocket?: boolean;
    }

    interface RawStreamOptions {
      framed?: boolean;
      firewall?: (...args: unknown[]) => boolean;
    }

    interface Options {
      bootstrap?: string[];
      keyPair?: KeyPair;
      host?: string;
      port?: number;
      /** false: fail when `port` is taken instead of binding another one. */
      anyPort?: boolean;
      firewalled?: boolean;
      ephemeral?: boolean;
      /** false: skip the check at bootstrap that can find a node reachable unasked (on loopback it always is). */
      quickFirewall?: boolean;
    }
  }

  class HyperDHT extends EventEmitter {
    constructor(options?: HyperDHT.Options);
    static keyPair(seed?: Uint8Array): HyperDHT.KeyPair;
    /** The public bootstrap nodes, as `ip@name:port`. */
    static readonly BOOTSTRAP: readonly string[];
    static bootstrapper(port: number, host: string, options?: HyperDHT.Options): HyperDHT;
    readonly destroyed: boolean;
    /** True until other DHT nodes have reached this one's UDP port unasked. */
    readonly firewalled: boolean;
    /** This node's NAT gives it a new public port per destination (a symmetric NAT), as far as the DHT can tell. */
    readonly randomized: boolean;
    ready(): Promise<void>;
    fullyBootstrapped(): Promise<void>;
    /** This node's public address as other DHT nodes see it; null before any has told it. */
    remoteAddress(): { host: string; port: number } | null;
    /** DHT nodes in the routing table. */
    toArray(options?: { limit?: number }): { host: string; port: number }[];
    connect(remotePublicKey: Uint8Array, options?: HyperDHT.ConnectOptions): HyperDHT.NoiseSecretStream;
    /** The announcements of `publicKey` the DHT nodes closest to it hold, one result per node that has one. */
    findPeer(publicKey: Uint8Array): AsyncIterable<{ peer: { publicKey: Buffer } }>;
    createServer(options?: HyperDHT.ServerOptions, onConnection?: (socket: HyperDHT.NoiseSecretStream) => void): HyperDHT.Server;
    createRawStream(options?: HyperDHT.RawStreamOptions): HyperDHT.RawStream;
    /** The DHT socket's local address; port is the one bound. */
    localAddress(): { host: string; port: number } | null;
    destroy(options?: { force?: boolean }): Promise<void>;
  }

  export = HyperDHT;
}

declare module 'hyperdht/testnet' {
  import type HyperDHT from 'hyperdht';

  namespace createTestnet {
    interface Testnet {
      readonly nodes: HyperDHT[];
      /** `{ host, port }` of the first node, to pass as others' bootstrap. */
      readonly bootstrap: { host: string; port: number }[];
      createNode(options?: HyperDHT.Options): HyperDHT;
      destroy(): Promise<void>;
    }
  }

  /** `size` DHT nodes on `host` (127.0.0.1 by default), the first bootstrapping the rest. */
  function createTestnet(size?: number, options?: { host?: string; port?: number }): Promise<createTestnet.Testnet>;
  export = createTestnet;
}
