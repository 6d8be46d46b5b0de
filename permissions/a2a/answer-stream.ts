import type { ServerResponse } from 'node:http';
import type { JsonRpcError, JsonRpcId } from './a2a-dispatch';

/**
 * The Server-Sent Events stream of a streaming A2A call (A2A v1.0 JSON-RPC
 * binding): one `data:` line per JSON-RPC response, an error as
 * `event: error`, and a `: keepalive` comment while nothing else is
 * written, so an idle connection is not closed by a proxy or a client's
 * timeout. A2A clients skip comments.
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
    this.stopKeepalive = this.intervals.start(this.keepaliveMs, () => void this.response.write(': keepalive\n\n'));
  }

  event(result: unknown): void {
    this.response.write(`data: ${JSON.stringify({ jsonrpc: '2.0', id: this.id, result })}\n\n`);
  }

  error(error: JsonRpcError): void {
    this.response.write(`event: error\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: this.id, error })}\n\n`);
  }

  /** After the last event; also when the client left, to stop the keepalive. */
  close(): void {
    this.stopKeepalive?.();
    this.stopKeepalive = undefined;
    if (!this.response.writableEnded) this.response.end();
  }
}
