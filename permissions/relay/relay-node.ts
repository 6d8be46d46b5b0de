import type HyperDHT from 'hyperdht';
import type * as BlindRelay from 'blind-relay';
import { P2pError } from '../../extension/common/errors';
import { describeBootstrap, type RelayOptions } from './relay-options';

/**
 * A blind relay on the Hyperswarm DHT. Two peers that cannot hole-punch
 * (both behind symmetric NATs) each open a Noise connection to the relay
 * and ask it to pair them by a token they agreed on; the relay then
 * forwards the UDX packets of their own end-to-end encrypted connection
 * between them. It sees who talks to whom and how much, never what: the
 * peers' stream is encrypted with keys the relay does not have.
 *
 * The relay is also a full DHT node on the same UDP port, so one open port
 * serves both the lookups that find it and the relayed streams.
 */
export interface RelayNodeOptions extends RelayOptions {
  /** Seed of the relay's key pair: its public key is what peers configure. */
  seed: Uint8Array;
  log: (line: string) => void;
}

export interface RunningRelay {
  readonly publicKey: Buffer;
  /** The UDP port bound (the one asked for: the relay never falls back to another). */
  readonly port: number;
  /** Whether other DHT nodes reached the port unasked; false means a firewall or NAT is in the way. */
  readonly reachable: boolean;
  stop(): Promise<void>;
}

interface RelayLibraries {
  HyperDHT: typeof HyperDHT;
  BlindRelayServer: typeof BlindRelay.Server;
}

/**
 * hyperdht and blind-relay load native addons (sodium-native, udx-native)
 * as they are required: done here, in one place, only when a relay starts,
 * so that whatever must prepare those addons can run just before, and no
 * other command pays for them.
 */
function loadRelayLibraries(): RelayLibraries {
  const HyperDHTModule = require('hyperdht') as typeof HyperDHT;
  const { Server } = require('blind-relay') as typeof BlindRelay;
  return { HyperDHT: HyperDHTModule, BlindRelayServer: Server };
}

export async function startRelayNode(options: RelayNodeOptions): Promise<RunningRelay> {
  const { HyperDHT: DHT, BlindRelayServer } = loadRelayLibraries();
  const keyPair = DHT.keyPair(options.seed);
  const dht = new DHT({
    keyPair,
    host: options.host,
    port: options.port,
    // A relay announced on one port but bound to another could not be reached through the port the operator opened.
    anyPort: false,
    // Join the DHT as a routing node as soon as other nodes confirm the port is reachable.
    ephemeral: false,
    ...(options.bootstrap === null ? {} : { bootstrap: options.bootstrap }),
  });
  try {
    await dht.fullyBootstrapped().catch((error: unknown) => {
      throw bindError(error, options);
    });
    // Announcing to nobody would leave a relay no peer can find, running as if all were well.
    if (dht.toArray().length === 0) {
      throw new P2pError('NOT_AVAILABLE', `no DHT node answered through ${describeBootstrap(options.bootstrap)}; check that this machine can reach them over UDP (and the --bootstrap addresses, if given)`);
    }
    const relay = new BlindRelayServer({ createStream: (streamOptions) => dht.createRawStream({ ...streamOptions, framed: true }) });
    // Peers reach a relay at its public address; its LAN addresses would only tell them about its network.
    const server = dht.createServer({ shareLocalAddress: false }, (socket) => acceptPeer(relay, socket, options.log));
    await server.listen(keyPair);
    const port = dht.localAddress()?.port ?? options.port;
    return {
      publicKey: keyPair.publicKey,
      port,
      reachable: !dht.firewalled,
      // Destroying the DHT closes the server (unannouncing it) and every relayed stream with it.
      stop: () => dht.destroy(),
    };
  } catch (error) {
    // A DHT that never bound fails its destroy with the same error: the one worth reporting is the first.
    await dht.destroy({ force: true }).catch(() => undefined);
    throw error;
  }
}

/** The socket errors an operator can fix, said so; anything else as it came. */
function bindError(error: unknown, { host, port }: RelayOptions): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') {
    return new P2pError('NOT_AVAILABLE', `UDP port ${port} on ${host} is already in use (another relay or DHT node?); stop it or choose another --port`);
  }
  if (code === 'EADDRNOTAVAIL') return new P2pError('NOT_AVAILABLE', `${host} is not an address of this machine; give --host one of its own, or leave it out`);
  if (code === 'EACCES') return new P2pError('NOT_AVAILABLE', `not allowed to bind UDP port ${port} on ${host}; choose a port above 1023, or run with the right to bind it`);
  return error;
}

/** A peer's Noise connection to the relay: it may ask for pairings until it closes. */
function acceptPeer(relay: BlindRelay.Server, socket: HyperDHT.NoiseSecretStream, log: (line: string) => void): void {
  const peer = shortKey(socket.remotePublicKey);
  // Peers vanish without a goodbye (timeouts, resets): an error ends that peer's session, never the relay.
  socket.on('error', (error: Error) => log(`connection from ${peer} ended: ${error.message}`));
  const session = relay.accept(socket, { id: socket.remotePublicKey });
  session.on('error', (error: Error) => log(`relayed stream of ${peer} ended: ${error.message}`));
  session.on('pair', (isInitiator: boolean, token: Buffer) =>
    log(`relaying for ${peer} (${isInitiator ? 'initiator' : 'responder'}, pairing ${token.toString('hex').slice(0, 8)}); ${relay.stats.streams.active} streams active`),
  );
}

/** Enough of a key to follow one peer through the log. */
function shortKey(key: Buffer | null): string {
  return key === null ? 'an unknown key' : `${key.toString('hex').slice(0, 16)}…`;
}
