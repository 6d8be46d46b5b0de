import { randomBytes, sign } from 'node:crypto';
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
export function simulatedIdentity(): StaticIdentity {
  const { privateKey, publicKey } = ed25519FromSeed(randomBytes(KEY_BYTES));
  return { publicKey, sign: (message) => new Uint8Array(sign(null, message, privateKey)) };
}

const SESSION_PAYLOAD: InitiatorPayload = { intent: Intent.SESSION, requestId: new Uint8Array(16), listenPort: 0, displayName: 'simulated peer' };

/** Long enough that a loaded 2-core machine never times a handshake out; keepalive out of the way of a short run. */
export const BENCH_HANDSHAKE_OPTIONS: HandshakeOptions = { handshakeTimeoutMs: 30_000, maxMessagesPerKey: 2 ** 32, keepaliveIntervalMs: 600_000 };

/** Dials `address`, runs the handshake as `identity` with SESSION intent; the session, or an error saying why not. */
export async function openSession(address: string, identity: StaticIdentity, expectedPeer: Uint8Array, limits: TransportLimits): Promise<SecureChannel> {
  const socket = await dial(address, limits);
  const outcome = await initiateChannel(socket, identity, expectedPeer, SESSION_PAYLOAD, address, BENCH_HANDSHAKE_OPTIONS);
  if (outcome.channel === null) throw new Error(`session refused: ${JSON.stringify(outcome.decision)}`);
  return outcome.channel;
}
