/** Every limit of the network layer, explicit and configurable. */
export interface TransportLimits {
  /** Largest WebSocket message accepted; ws closes the connection (1009) beyond it. */
  maxFrameBytes: number;
  /** Simultaneous TCP connections from one IP address. */
  maxConnectionsPerIp: number;
  /** Simultaneous TCP connections in all. */
  maxConnections: number;
  /** Time from TCP accept (or dial) to an authenticated session; also bounds the HTTP upgrade. */
  handshakeTimeoutMs: number;
  /**
   * New TCP connections accepted from one IP address: a burst, then a
   * sustained rate. Each one can cost the node a handshake (an Ed25519
   * signature and two checks), and, from an initiator claiming a known
   * peer under a key not pinned for it, that claim's key chain (up to 32
   * checks, protocol.md §19); beyond the rate it is closed at accept.
   */
  handshakeRate: { burst: number; perSecond: number };
  /** IP addresses whose handshake rate is remembered at once; beyond, the one seen longest ago is forgotten. */
  handshakeRateAddresses: number;
  /** Ping interval; a connection that misses a whole interval without a pong is dropped. */
  keepaliveIntervalMs: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  maxFrameBytes: 1024 * 1024 + 64 * 1024,
  maxConnectionsPerIp: 8,
  maxConnections: 1100,
  handshakeTimeoutMs: 5000,
  // Four times the per-IP cap at once, then one new connection every 125 ms:
  // far above what honest peers behind one address reconnect at (backoff
  // from 1 s), and at most 8 handshakes a second for a flooding address.
  handshakeRate: { burst: 32, perSecond: 8 },
  handshakeRateAddresses: 4096,
  keepaliveIntervalMs: 15_000,
};

/** The one URL path p2p-comm serves; anything else is refused at the HTTP stage. */
export const WEBSOCKET_PATH = '/p2p-comm/1';
