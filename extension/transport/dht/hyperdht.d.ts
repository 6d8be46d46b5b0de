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
    interface RawStream {
      remoteHost: string | null;
      remotePort: number;
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
    }

    interface Server extends EventEmitter {
      listen(keyPair: KeyPair): Promise<void>;
      close(): Promise<void>;
      address(): { host: string | null; port: number | null; publicKey: Buffer } | null;
    }

    interface ConnectOptions {
      keyPair?: KeyPair;
      relayThrough?: Buffer | Buffer[] | null;
    }

    interface Options {
      bootstrap?: string[];
      keyPair?: KeyPair;
      host?: string;
      port?: number;
      firewalled?: boolean;
      ephemeral?: boolean;
    }
  }

  class HyperDHT extends EventEmitter {
    constructor(options?: HyperDHT.Options);
    static keyPair(seed?: Uint8Array): HyperDHT.KeyPair;
    static bootstrapper(port: number, host: string, options?: HyperDHT.Options): HyperDHT;
    readonly destroyed: boolean;
    ready(): Promise<void>;
    connect(remotePublicKey: Uint8Array, options?: HyperDHT.ConnectOptions): HyperDHT.NoiseSecretStream;
    createServer(options?: HyperDHT.ServerOptions, onConnection?: (socket: HyperDHT.NoiseSecretStream) => void): HyperDHT.Server;
    remoteAddress(): { host: string; port: number } | null;
    destroy(options?: { force?: boolean }): Promise<void>;
  }

  export = HyperDHT;
}

declare module 'hyperdht/testnet' {
  import type HyperDHT from 'hyperdht';

  interface Testnet {
    nodes: HyperDHT[];
    bootstrap: { host: string; port: number }[];
    createNode(options?: HyperDHT.Options): HyperDHT;
    destroy(): Promise<void>;
  }

  function createTestnet(size?: number, options?: { host?: string; port?: number; teardown?: (fn: () => Promise<void>) => void }): Promise<Testnet>;

  export = createTestnet;
}
