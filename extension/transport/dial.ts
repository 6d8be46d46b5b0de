import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { WEBSOCKET_PATH, type TransportLimits } from './limits';

export class DialError extends Error {
  override name = 'DialError';
}

/**
 * Frames this side sends carry a mask of zeros, which ws then neither
 * applies nor removes (masking cost ~8% of the CPU of a 64 KiB transfer).
 * RFC 6455 masks client frames so that a script in a browser cannot choose
 * the bytes a proxy sees; here no script runs, and the peer chooses only
 * some ciphertext bytes, an accepted risk (docs/protocol.md §3).
 */
function unmasked(mask: Uint8Array): void {
  mask.fill(0);
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
      generateMask: unmasked,
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
