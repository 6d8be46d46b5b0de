/** The server half of blind-relay, as a relay node uses it; the package ships no type declarations. */
declare module 'blind-relay' {
  import type { EventEmitter } from 'node:events';
  import type HyperDHT from 'hyperdht';

  interface ServerOptions {
    /** A fresh stream for each end of a pairing, on the relay's own UDP socket. */
    createStream(options: HyperDHT.RawStreamOptions): HyperDHT.RawStream;
  }

  /** One connected peer; emits 'pair' (isInitiator, token, stream, remoteId) when its pairing is matched, and 'error'. */
  interface Session extends EventEmitter {
    destroy(error?: Error): void;
  }

  interface Stats {
    sessions: { accepted: number; opened: number; closed: number; active: number };
    pairings: { requested: number; matched: number; cancelled: number; pending: number; active: number };
    streams: { opened: number; closed: number; errors: number; active: number };
  }

  class Server extends EventEmitter {
    constructor(options: ServerOptions);
    readonly stats: Stats;
    accept(stream: HyperDHT.NoiseSecretStream, options: { id: Uint8Array | null }): Session;
    close(): Promise<void>;
  }
}
