import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { WebSocket } from 'ws';
import { dial } from '../../extension/transport/dial';
import { DEFAULT_TRANSPORT_LIMITS } from '../../extension/transport/limits';
import { peerIdFromPublicKey, publicKeyFromPeerId } from '../../extension/common/peer-id';
import { initiateChannel } from '../../extension/wire/channel-handshake';
import { PROTOCOL_VERSION, type StaticIdentity } from '../../extension/wire/handshake';
import { Intent } from '../../extension/wire/handshake-payload';
import type { SecureChannel } from '../../extension/wire/secure-channel';
import { AsyncQueue } from './async-queue';
import { identityFromSeed } from './fixed-identity';
import type { TestNode } from './node';
import { CAPABILITIES } from '../../extension/node-parts';
import { encodeHello } from '../../extension/wire/hello';
import { MSG_HELLO } from '../../extension/wire/session-messages';

/** A throwaway Ed25519 identity for a hand-driven peer in tests. */
export function throwawayIdentity(): StaticIdentity {
  return identityFromSeed(randomBytes(32));
}

/** A WebSocket to a node, with its binary messages as an awaitable queue. */
export async function rawConnection(address: string): Promise<{ socket: WebSocket; next(): Promise<Uint8Array>; closed: Promise<unknown> }> {
  const socket = await dial(address, DEFAULT_TRANSPORT_LIMITS);
  const frames = new AsyncQueue<Uint8Array>();
  socket.on('message', (data: Buffer) => frames.push(new Uint8Array(data)));
  socket.on('error', () => undefined);
  const closed = once(socket, 'close');
  return {
    socket,
    closed,
    next: () => frames.next(),
  };
}

/**
 * A peer driven by hand from a test: it pairs with a node through the real
 * consent flow (its request is accepted by the node's user), then opens a
 * session and can send any bytes, well-formed or not.
 */
export interface RawSessionPeer {
  identity: StaticIdentity;
  peerId: string;
  channel: SecureChannel;
  /** The WebSocket under the channel, to watch how much is waiting to be written. */
  socket: WebSocket;
  /** Messages the node sent on the session, oldest first, as they arrive. */
  next(): Promise<[number, Uint8Array]>;
}

const SESSION_OPTIONS = { handshakeTimeoutMs: 2000, maxMessagesPerKey: 1_000_000, keepaliveIntervalMs: 60_000 };

/** `listenPort`: where the raw peer says it listens, so that the node calls it there (0: nowhere). */
export async function pairedRawPeer(node: Pick<TestNode, 'call'>, address: string, nodePeerId: string, name = 'raw peer', listenPort = 0): Promise<RawSessionPeer> {
  const identity = throwawayIdentity();
  const request = { intent: Intent.PAIR_REQUEST, requestId: new Uint8Array(randomBytes(16)), listenPort, displayName: name } as const;
  await initiateChannel(await dial(address, DEFAULT_TRANSPORT_LIMITS), identity, publicKeyFromPeerId(nodePeerId), request, address, SESSION_OPTIONS);
  await node.call('accept', { request_id: Buffer.from(request.requestId).toString('hex'), peer: peerIdFromPublicKey(identity.publicKey) });
  return reconnectRawPeer(address, nodePeerId, identity);
}

/**
 * Opens a new session for an identity the node already trusts. It says
 * hello first, as a node does, naming `capabilities` (by default this
 * build's) and `dhtBinding` (by default none: a node that does not announce itself).
 */
export async function reconnectRawPeer(
  address: string,
  nodePeerId: string,
  identity: StaticIdentity,
  capabilities: readonly string[] = CAPABILITIES,
  dhtBinding: Uint8Array | null = null,
): Promise<RawSessionPeer> {
  const session = { intent: Intent.SESSION, requestId: new Uint8Array(16), listenPort: 0, displayName: 'raw peer' } as const;
  const socket = await dial(address, DEFAULT_TRANSPORT_LIMITS);
  const outcome = await initiateChannel(socket, identity, publicKeyFromPeerId(nodePeerId), session, address, SESSION_OPTIONS);
  const channel = outcome.channel;
  if (channel === null) throw new Error(`session refused: ${JSON.stringify(outcome.decision)}`);
  channel.send(MSG_HELLO, encodeHello({ protocolVersion: PROTOCOL_VERSION, agent: 'raw peer', capabilities: [...capabilities], software: 'p2p-comm-test/0', dhtBinding }));
  const messages = new AsyncQueue<[number, Uint8Array]>();
  channel.setMessageHandler((type, body) => messages.push([type, body]));
  return {
    identity,
    peerId: peerIdFromPublicKey(identity.publicKey),
    channel,
    socket,
    next: () => messages.next(),
  };
}
