import { randomBytes, sign } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { dial } from '../extension/transport/dial';
import type { TransportLimits } from '../extension/transport/limits';
import { initiateChannel, type HandshakeOptions } from '../extension/wire/channel-handshake';
import type { StaticIdentity } from '../extension/wire/handshake';
import { Intent, type InitiatorPayload } from '../extension/wire/handshake-payload';
import { ed25519FromSeed, KEY_BYTES } from '../extension/wire/primitives';
import type { SecureChannel } from '../extension/wire/secure-channel';

/**
 * A peer simulated with the project's own wire modules: an Ed25519
 * identity and the initiator side of the handshake, no node around it.
 */
export function simulatedIdentity(seed: Uint8Array = randomBytes(KEY_BYTES)): StaticIdentity {
  const { privateKey, publicKey } = ed25519FromSeed(seed);
  return { publicKey, sign: (message) => new Uint8Array(sign(null, message, privateKey)) };
}

const SESSION_PAYLOAD: InitiatorPayload = { intent: Intent.SESSION, requestId: new Uint8Array(16), listenPort: 0, displayName: 'simulated peer' };

/** Long enough that a loaded 2-core machine never times a handshake out; keepalive out of the way of a short run. */
export const BENCH_HANDSHAKE_OPTIONS: HandshakeOptions = { handshakeTimeoutMs: 30_000, maxMessagesPerKey: 2 ** 32, keepaliveIntervalMs: 600_000 };

/**
 * The `index`th of the addresses 127.1.0.1 and up (Linux routes all of
 * 127.0.0.0/8 to the loopback interface): simulated peers that each connect
 * from an address of their own meet the node's per-address limits as
 * peers on the network would, each its own.
 */
export function simulatedPeerAddress(index: number): string {
  const host = 1 + index;
  if (host > 0xfffe) throw new RangeError(`no loopback address for simulated peer ${index}`);
  return `127.1.${host >> 8}.${host & 0xff}`;
}

/**
 * Dials `address` (from `localAddress`, when given), runs the handshake as
 * `identity` with SESSION intent; the session, or an error saying why not.
 */
export async function openSession(address: string, identity: StaticIdentity, expectedPeer: Uint8Array, limits: TransportLimits, localAddress?: string): Promise<SecureChannel> {
  const socket = await dial(address, limits, localAddress === undefined ? undefined : connectFrom(localAddress, address));
  const outcome = await initiateChannel(socket, identity, expectedPeer, SESSION_PAYLOAD, address, BENCH_HANDSHAKE_OPTIONS);
  if (outcome.channel === null) throw new Error(`session refused: ${JSON.stringify(outcome.decision)}`);
  return outcome.channel;
}

/** A TCP connection to `address` (host:port) from `localAddress`, for dial to run the WebSocket over. */
function connectFrom(localAddress: string, address: string): Socket {
  const separator = address.lastIndexOf(':');
  return connect({ host: address.slice(0, separator), port: Number(address.slice(separator + 1)), localAddress });
}
