import { DEFAULT_TRANSPORT_LIMITS, type TransportLimits } from '../../extension/transport/limits';
import { PeerServer } from '../../extension/transport/peer-server';
import { acceptChannel } from '../../extension/wire/channel-handshake';
import { DecisionResult, RefusalReason } from '../../extension/wire/decision';
import { BENCH_HANDSHAKE_OPTIONS, openSession, simulatedIdentity } from '../sim-peer';
import { nowMs } from '../stats';

/**
 * Fresh connections one after another, each timed from the dial to the
 * initiator holding an open session: TCP connect, WebSocket upgrade, the
 * three handshake messages (X25519, two Ed25519 signatures and their
 * verification) and the responder's decision. The responder is a
 * PeerServer with acceptChannel, as in the node, deciding "open" at once.
 */

/**
 * Connections arrive one after another from 127.0.0.1, faster than the
 * per-address rate allows, while closed ones are still being torn down.
 */
const LIMITS: TransportLimits = {
  ...DEFAULT_TRANSPORT_LIMITS,
  maxConnectionsPerIp: 100_000,
  maxConnections: 100_000,
  handshakeRate: { burst: 100_000, perSecond: 100_000 },
};

export async function handshakeTimes(count: number): Promise<number[]> {
  const responder = simulatedIdentity();
  const initiator = simulatedIdentity();
  const server = new PeerServer({
    host: '127.0.0.1',
    port: 0,
    limits: LIMITS,
    // The initiator closes each session once timed; the responder's end follows the close frame.
    onConnection: (socket, ip) =>
      void acceptChannel(socket, responder, { displayName: 'responder' }, ip, () => ({ result: DecisionResult.SESSION_OPEN, reason: RefusalReason.NONE }), BENCH_HANDSHAKE_OPTIONS).catch(
        // A failed handshake fails the initiator's side too, which stops the run.
        () => undefined,
      ),
    // A refused connection shows up as the dial failing, which stops the run.
    onRefused: () => undefined,
  });
  const { port } = await server.listen();
  const address = `127.0.0.1:${port}`;
  const times: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const start = nowMs();
    const channel = await openSession(address, initiator, responder.publicKey, LIMITS);
    times.push(nowMs() - start);
    channel.close();
  }
  await server.close();
  return times;
}
