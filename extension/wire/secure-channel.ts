import { EventEmitter } from 'node:events';
import type { RawData, WebSocket } from 'ws';
import { keepAlive } from '../transport/keepalive';
import { toBytes } from './frame-queue';
import type { SessionKeys } from './handshake';
import { KeyExhaustedError, SessionCipher } from './session-cipher';

/** WebSocket close codes p2p-comm uses (4000-4999 are for applications). */
export const CloseCode = {
  NORMAL: 1000,
  DECISION: 4000,
  REKEY: 4001,
  BAD_FRAME: 4002,
  HANDSHAKE_FAILED: 4003,
  REVOKED: 4004,
  DUPLICATE: 4005,
  SHUTDOWN: 4006,
  /** The peer sent more refused input than its budget allows; it is kept away for a while. */
  MISBEHAVING: 4007,
  /** The node replaced its key: the peer reconnects and learns the key chain in the handshake. */
  KEY_ROTATED: 4008,
} as const;

export interface ChannelPeer {
  publicKey: Uint8Array;
  displayName: string;
}

export interface ChannelOptions {
  maxMessagesPerKey: number;
  keepaliveIntervalMs: number;
}

export type MessageHandler = (type: number, body: Uint8Array) => void;

/** Messages kept while nobody handles them yet; a peer that sends more is cut off. */
const MAX_UNHANDLED_MESSAGES = 1024;
/**
 * Longest the handler may run for one channel in one turn of the event
 * loop. A socket read can hold hundreds of small messages, each of which may
 * cost a signature check: handled all at once, they would keep stdin (every
 * host call) and other peers waiting behind one peer's flood.
 */
const HANDLER_SLICE_MS = 0.5;
/**
 * Messages, and bytes, waiting for the handler beyond which the socket stops
 * reading, so that TCP pushes back on the sender; it reads again once both
 * are below half. Bytes too: 512 messages of up to a MiB each would be half
 * a GiB.
 */
const MAX_WAITING_MESSAGES = 512;
const MAX_WAITING_BYTES = 8 * 1024 * 1024;

interface ChannelEvents {
  /** The peer sent a frame that did not authenticate or parse; the channel is closed. */
  refused: [reason: string];
  close: [code: number, reason: string];
}

/**
 * An authenticated, encrypted session over one WebSocket. Each message is
 * `type u8 | body`, sealed under the sender's direction key with a counter
 * nonce. Anything that fails to open closes the channel: after the
 * handshake there is no such thing as a harmless bad frame.
 *
 * Messages wait in order until a handler is set: several can arrive in one
 * socket read, before whoever owns the channel next has attached itself.
 * They are then handed over in slices of at most HANDLER_SLICE_MS per turn
 * of the event loop.
 */
export class SecureChannel extends EventEmitter<ChannelEvents> {
  private readonly sendCipher: SessionCipher;
  private readonly receiveCipher: SessionCipher;
  private readonly stopKeepalive: () => void;
  private open = true;
  private handler: MessageHandler | null = null;
  /** Opened messages not yet handed to the handler, in order, and their size in bytes. */
  private readonly waiting: [number, Uint8Array][] = [];
  private waitingBytes = 0;
  /** When this turn of the event loop started handing messages over; null between turns. */
  private turnStartedAt: number | null = null;
  /** The handshake transcript hash: both ends hold it, and no other session has it (receipts are bound to it). */
  readonly sessionId: Uint8Array;

  constructor(
    private readonly socket: WebSocket,
    keys: SessionKeys,
    readonly peer: ChannelPeer,
    readonly role: 'initiator' | 'responder',
    readonly remoteAddress: string,
    options: ChannelOptions,
    pending: Uint8Array[] = [],
  ) {
    super();
    this.sessionId = keys.transcriptHash;
    this.sendCipher = new SessionCipher(keys.send, options.maxMessagesPerKey);
    this.receiveCipher = new SessionCipher(keys.receive, options.maxMessagesPerKey);
    socket.on('message', (data: RawData, isBinary: boolean) => this.receive(isBinary ? toBytes(data) : null));
    socket.on('close', (code: number, reason: Buffer) => this.closed(code, reason.toString('utf8')));
    socket.on('error', () => undefined);
    this.stopKeepalive = keepAlive(socket, options.keepaliveIntervalMs, () => undefined);
    // Frames that arrived while the handshake still owned the socket come first.
    queueMicrotask(() => {
      for (const frame of pending) this.receive(frame);
    });
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Hands every message, queued ones first, to `handler`; null queues them again. */
  setMessageHandler(handler: MessageHandler | null): void {
    this.handler = handler;
    this.deliver();
  }

  /**
   * Returns false when the channel is closed (or just closed itself to
   * rekey). A body in parts is sent as their concatenation, sealed without
   * joining them first.
   */
  send(type: number, body: Uint8Array | readonly Uint8Array[] = new Uint8Array(0)): boolean {
    if (!this.open) return false;
    let sealed: Uint8Array;
    try {
      sealed = this.sendCipher.seal([Uint8Array.of(type), ...(body instanceof Uint8Array ? [body] : body)]);
    } catch (error) {
      if (error instanceof KeyExhaustedError) {
        this.close(CloseCode.REKEY, 'session key exhausted');
        return false;
      }
      throw error;
    }
    this.socket.send(sealed, { binary: true });
    return true;
  }

  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (!this.open) return;
    this.socket.close(code, reason);
    // The peer may never answer the close frame; do not wait on it.
    setTimeout(() => this.socket.terminate(), 1000).unref();
    this.closed(code, reason);
  }

  private receive(frame: Uint8Array | null): void {
    if (!this.open) return;
    let plaintext: Uint8Array | null = null;
    try {
      plaintext = frame === null ? null : this.receiveCipher.open(frame);
    } catch (error) {
      if (!(error instanceof KeyExhaustedError)) throw error;
      this.close(CloseCode.REKEY, 'session key exhausted');
      return;
    }
    if (plaintext === null || plaintext.length === 0) {
      this.emit('refused', frame === null ? 'text_frame' : 'bad_frame');
      this.close(CloseCode.BAD_FRAME, 'frame did not authenticate');
      return;
    }
    if (this.handler === null && this.waiting.length >= MAX_UNHANDLED_MESSAGES) {
      this.emit('refused', 'unhandled_flood');
      this.close(CloseCode.BAD_FRAME, 'too many messages');
      return;
    }
    this.waiting.push([plaintext[0] as number, plaintext.subarray(1)]);
    this.waitingBytes += plaintext.length;
    if ((this.waiting.length >= MAX_WAITING_MESSAGES || this.waitingBytes >= MAX_WAITING_BYTES) && !this.socket.isPaused) this.socket.pause();
    this.deliver();
  }

  /** Hands waiting messages to the handler until this turn's slice is used; the next turn goes on. */
  private deliver(): void {
    while (this.open && this.handler !== null && this.waiting.length > 0) {
      if (this.turnStartedAt === null) {
        this.turnStartedAt = performance.now();
        setImmediate(() => {
          this.turnStartedAt = null;
          this.deliver();
        });
      } else if (performance.now() - this.turnStartedAt >= HANDLER_SLICE_MS) {
        return;
      }
      const [type, body] = this.waiting.shift() as [number, Uint8Array];
      this.waitingBytes -= body.length + 1;
      this.handler(type, body);
    }
    if (this.socket.isPaused && this.waiting.length < MAX_WAITING_MESSAGES / 2 && this.waitingBytes < MAX_WAITING_BYTES / 2) this.socket.resume();
  }

  private closed(code: number, reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.stopKeepalive();
    this.emit('close', code, reason);
  }
}
