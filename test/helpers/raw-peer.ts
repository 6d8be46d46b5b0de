import { generateKeyPairSync, sign } from 'node:crypto';
import { once } from 'node:events';
import type { WebSocket } from 'ws';
import { dial } from '../../extension/transport/dial';
import { DEFAULT_TRANSPORT_LIMITS } from '../../extension/transport/limits';
import type { StaticIdentity } from '../../extension/wire/handshake';

/** A throwaway Ed25519 identity for a hand-driven peer in tests. */
export function throwawayIdentity(): StaticIdentity {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url'));
  return { publicKey: raw, sign: (message) => new Uint8Array(sign(null, message, privateKey)) };
}

/** A WebSocket to a node, with its binary messages as an awaitable queue. */
export async function rawConnection(address: string): Promise<{ socket: WebSocket; next(): Promise<Uint8Array>; closed: Promise<unknown> }> {
  const socket = await dial(address, DEFAULT_TRANSPORT_LIMITS);
  const queue: Uint8Array[] = [];
  const waiters: ((frame: Uint8Array) => void)[] = [];
  socket.on('message', (data: Buffer) => {
    const frame = new Uint8Array(data);
    const waiter = waiters.shift();
    if (waiter) waiter(frame);
    else queue.push(frame);
  });
  socket.on('error', () => undefined);
  const closed = once(socket, 'close');
  return {
    socket,
    closed,
    next: () => {
      const frame = queue.shift();
      return frame !== undefined ? Promise.resolve(frame) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}
