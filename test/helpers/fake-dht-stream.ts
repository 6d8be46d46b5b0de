import { EventEmitter } from 'node:events';
import type HyperDHT from 'hyperdht';
import { DhtSocket } from '../../extension/transport/dht/dht-socket';

/**
 * The part of a hyperdht stream DhtSocket uses, driven by hand: `accepts`
 * is what write() answers (false = the stream is full), and every call is
 * recorded.
 */
export class FakeDhtStream extends EventEmitter {
  readonly remotePublicKey: Buffer | null;
  readonly publicKey = Buffer.alloc(32, 2);
  readonly rawStream = null;
  destroyed = false;
  accepts = true;
  readonly written: Buffer[] = [];
  pauses = 0;
  resumes = 0;
  ended = false;

  constructor(remotePublicKey: Buffer | null = Buffer.alloc(32, 0xab)) {
    super();
    this.remotePublicKey = remotePublicKey;
  }

  write(data: Uint8Array): boolean {
    this.written.push(Buffer.from(data));
    return this.accepts;
  }

  /** Like a real stream, it has flushed what it held on a later turn, and says so. */
  end(): void {
    this.ended = true;
    setImmediate(() => this.emit('finish'));
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }

  pause(): void {
    this.pauses += 1;
  }

  resume(): void {
    this.resumes += 1;
  }

  setKeepAlive(): void {}
}

export function socketOver(stream: FakeDhtStream): DhtSocket {
  return new DhtSocket(stream as unknown as HyperDHT.NoiseSecretStream);
}

/** One end of a fake DHT connection: what it writes, its peer receives on a later turn of the event loop, as from a network. */
class LinkedDhtStream extends FakeDhtStream {
  peer: LinkedDhtStream | null = null;

  override write(data: Uint8Array): boolean {
    const copy = Buffer.from(data);
    this.written.push(copy);
    setImmediate(() => {
      if (this.peer?.destroyed === false) this.peer.emit('data', copy);
    });
    return true;
  }

  override end(): void {
    this.ended = true;
    setImmediate(() => {
      this.emit('finish');
      if (this.peer?.destroyed === false) this.peer.emit('end');
    });
  }

  override destroy(): void {
    if (this.destroyed) return;
    super.destroy();
    this.peer?.destroy();
  }
}

/** Two fake DHT streams joined back to back, the two ends of one connection; an end or a destroy reaches the other. */
export function linkedDhtStreams(clientKey: Buffer, serverKey: Buffer): { client: FakeDhtStream; server: FakeDhtStream } {
  const client = new LinkedDhtStream(serverKey);
  const server = new LinkedDhtStream(clientKey);
  client.peer = server;
  server.peer = client;
  return { client, server };
}
