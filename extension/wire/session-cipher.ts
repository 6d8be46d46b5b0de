import { aeadOpen, aeadSeal, NONCE_BYTES } from './primitives';

/**
 * ChaCha20-Poly1305 for one direction of a session. The nonce is a message
 * counter (4 zero bytes | u64 little-endian), so it never repeats under a
 * key and the transport's ordering doubles as replay protection: a frame
 * replayed, dropped or reordered fails authentication.
 *
 * A key is retired after `maxMessages` messages, long before the 2^64
 * counter could wrap; the connection is then closed and a fresh handshake
 * gives fresh keys.
 */
export const DEFAULT_MAX_MESSAGES_PER_KEY = 2 ** 32;

const NO_AD = new Uint8Array(0);

export class KeyExhaustedError extends Error {
  override name = 'KeyExhaustedError';
}

export class SessionCipher {
  private counter = 0;
  private readonly nonce = Buffer.alloc(NONCE_BYTES);

  constructor(
    private readonly key: Uint8Array,
    private readonly maxMessages = DEFAULT_MAX_MESSAGES_PER_KEY,
  ) {}

  /** Messages left under this key. */
  get remaining(): number {
    return this.maxMessages - this.counter;
  }

  seal(plaintext: Uint8Array | readonly Uint8Array[]): Uint8Array {
    return aeadSeal(this.key, this.nextNonce(), plaintext, NO_AD);
  }

  /** Null when the frame is not the next authentic one from the peer. */
  open(sealed: Uint8Array): Uint8Array | null {
    return aeadOpen(this.key, this.nextNonce(), sealed, NO_AD);
  }

  private nextNonce(): Uint8Array {
    if (this.counter >= this.maxMessages) throw new KeyExhaustedError(`session key used for ${this.maxMessages} messages; a new handshake is needed`);
    this.nonce.writeBigUInt64LE(BigInt(this.counter), 4);
    this.counter += 1;
    return this.nonce;
  }
}
