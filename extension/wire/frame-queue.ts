import type { RawData, WebSocket } from 'ws';

export class FrameError extends Error {
  override name = 'FrameError';

  constructor(
    readonly reason: 'timeout' | 'closed' | 'text_frame' | 'oversize',
    message: string,
  ) {
    super(message);
  }
}

export function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Lets the handshake read a socket's messages one at a time, as awaited
 * values, until a secure channel takes the socket over. Everything the
 * handshake reads is bounded in size and in time.
 */
export class FrameQueue {
  private readonly frames: Uint8Array[] = [];
  private failure: FrameError | null = null;
  private wake: (() => void) | null = null;
  private readonly onMessage = (data: RawData, isBinary: boolean): void => {
    if (!isBinary) this.fail(new FrameError('text_frame', 'peer sent a text frame; p2p-comm speaks binary only'));
    else this.frames.push(toBytes(data));
    this.notify();
  };
  private readonly onClose = (): void => {
    this.fail(new FrameError('closed', 'peer closed the connection during the handshake'));
    this.notify();
  };

  constructor(
    private readonly socket: WebSocket,
    private readonly deadline: number,
  ) {
    socket.on('message', this.onMessage);
    socket.on('close', this.onClose);
  }

  async next(maxBytes: number): Promise<Uint8Array> {
    for (;;) {
      const frame = this.frames.shift();
      if (frame !== undefined) {
        if (frame.length > maxBytes) throw new FrameError('oversize', `handshake message of ${frame.length} bytes; at most ${maxBytes}`);
        return frame;
      }
      if (this.failure !== null) throw this.failure;
      await this.waitUntilDeadline();
    }
  }

  /** Stops reading; returns frames that arrived but were not read. */
  detach(): Uint8Array[] {
    this.socket.off('message', this.onMessage);
    this.socket.off('close', this.onClose);
    return this.frames.splice(0);
  }

  private waitUntilDeadline(): Promise<void> {
    const remaining = this.deadline - Date.now();
    if (remaining <= 0) return Promise.reject(new FrameError('timeout', 'handshake did not complete in time'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = null;
        reject(new FrameError('timeout', 'handshake did not complete in time'));
      }, remaining);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private fail(error: FrameError): void {
    this.failure ??= error;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
