import type { ServerResponse } from 'node:http';
import type { JsonRpcError, JsonRpcId } from './a2a-dispatch';

/**
 * The Server-Sent Events stream of a streaming A2A call (A2A v1.0 JSON-RPC
 * binding): one `data:` line per JSON-RPC response, an error as
 * `event: error`, and a `: keepalive` comment while nothing else is
 * written, so an idle connection is not closed by a proxy or a client's
 * timeout. A2A clients skip comments.
 *
 * A client that reads slowly, or not at all, slows the writer down: each
 * event waits until the socket has taken the one before (or the client has
 * gone), so the answers are read from the extension no faster than the
 * client takes them, and a keepalive is skipped while the buffer is full.
 */

export const DEFAULT_KEEPALIVE_MS = 15_000;

/** setInterval and clearInterval, injectable so tests can fire keepalives without waiting. */
export interface IntervalTimer {
  start(every: number, tick: () => void): () => void;
}

export const realIntervals: IntervalTimer = {
  start: (every, tick) => {
    const timer = setInterval(tick, every);
    return () => clearInterval(timer);
  },
};

export class AnswerStream {
  private stopKeepalive: (() => void) | undefined;

  constructor(
    private readonly response: ServerResponse,
    private readonly id: JsonRpcId,
    private readonly keepaliveMs = DEFAULT_KEEPALIVE_MS,
    private readonly intervals: IntervalTimer = realIntervals,
  ) {}

  /** Sends the headers at once: the client knows the stream is open before the peer answers. */
  open(): void {
    this.response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    this.response.flushHeaders();
    this.stopKeepalive = this.intervals.start(this.keepaliveMs, () => {
      // Data still waiting to be sent keeps the connection busy already.
      if (!this.response.writableNeedDrain) this.response.write(': keepalive\n\n');
    });
  }

  /** Resolves once the client can take more, or has gone. */
  event(result: unknown): Promise<void> {
    return this.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id: this.id, result })}\n\n`);
  }

  error(error: JsonRpcError): Promise<void> {
    return this.write(`event: error\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: this.id, error })}\n\n`);
  }

  private async write(text: string): Promise<void> {
    const response = this.response;
    if (response.writableEnded || response.destroyed) return;
    if (response.write(text)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        response.off('drain', done);
        response.off('close', done);
        resolve();
      };
      response.on('drain', done);
      response.on('close', done);
    });
  }

  /** After the last event; also when the client left, to stop the keepalive. */
  close(): void {
    this.stopKeepalive?.();
    this.stopKeepalive = undefined;
    if (!this.response.writableEnded) this.response.end();
  }
}
