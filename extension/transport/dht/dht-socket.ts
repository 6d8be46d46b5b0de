import { Duplex } from 'node:stream';
import type HyperDHT from 'hyperdht';
import { dhtAddress } from '../../common/dht-address';


/**
 * A DHT stream dressed as the Node socket that `http` and `ws` expect, so
 * the WebSocket upgrade, the handshake and the sessions run over it
 * unchanged. Backpressure is passed through both ways. Node's socket
 * tuning calls (no-delay, keep-alive, idle timeout) mean nothing here: the
 * session has its own keepalive and deadlines, and the DHT stream its own.
 */
export class DhtSocket extends Duplex {
  /** `dht:<remote DHT key in hex>`: the one address per-address limits can hold a DHT peer to. */
  readonly remoteAddress: string;
  readonly remotePort = 0;

  constructor(readonly stream: HyperDHT.NoiseSecretStream) {
    super({ allowHalfOpen: false });
    this.remoteAddress = dhtAddress(stream.remotePublicKey ?? Buffer.alloc(32));
    stream.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) stream.pause();
    });
    stream.on('end', () => this.push(null));
    // The stream's error is followed by its close; the error is what the owner should hear.
    stream.on('error', (error: Error) => this.destroy(error));
    stream.on('close', () => this.destroy());
  }

  override _read(): void {
    this.stream.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.stream.write(chunk)) return callback();
    this.whenStream('drain', callback);
  }

  /** Done once the stream has flushed what it holds (a close frame, say), not when it is merely asked to end. */
  override _final(callback: (error?: Error | null) => void): void {
    this.whenStream('finish', callback);
    this.stream.end();
  }

  /** Calls back on `event`, or when the stream closes first: a callback left waiting would hold the socket open. */
  private whenStream(event: 'drain' | 'finish', callback: () => void): void {
    const done = (): void => {
      this.stream.off(event, done);
      this.stream.off('close', done);
      callback();
    };
    this.stream.on(event, done);
    this.stream.on('close', done);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.stream.destroyed) this.stream.destroy();
    callback(error);
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  setTimeout(): this {
    return this;
  }
}
