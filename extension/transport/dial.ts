import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { WEBSOCKET_PATH, type TransportLimits } from './limits';

export class DialError extends Error {
  override name = 'DialError';
}

/**
 * Opens a WebSocket to a peer at `host:port` (or `[v6]:port`), or over an
 * already open `stream` (a DHT connection; `address` then only names it);
 * fails within the handshake timeout.
 */
export function dial(address: string, limits: TransportLimits, stream?: Duplex): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const url = stream === undefined ? `ws://${address}${WEBSOCKET_PATH}` : `ws://dht${WEBSOCKET_PATH}`;
    const socket = new WebSocket(url, {
      ...(stream === undefined ? {} : { createConnection: () => stream as never }),
      handshakeTimeout: limits.handshakeTimeoutMs,
      maxPayload: limits.maxFrameBytes,
      perMessageDeflate: false,
      followRedirects: false,
    });
    const fail = (message: string): void => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.terminate();
      reject(new DialError(`cannot reach ${address}: ${message}`));
    };
    socket.once('open', () => {
      socket.removeAllListeners();
      // Errors after this point are followed by 'close', which the owner handles (see peer-server.ts).
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', (error) => fail(error.message));
    socket.once('unexpected-response', (_request, response) => fail(`HTTP ${String(response.statusCode)} instead of a WebSocket`));
  });
}
