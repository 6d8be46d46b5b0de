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
  /** Ping interval; a connection that misses a whole interval without a pong is dropped. */
  keepaliveIntervalMs: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  maxFrameBytes: 1024 * 1024 + 64 * 1024,
  maxConnectionsPerIp: 8,
  maxConnections: 1100,
  handshakeTimeoutMs: 5000,
  keepaliveIntervalMs: 15_000,
};

/** The one URL path p2p-comm serves; anything else is refused at the HTTP stage. */
export const WEBSOCKET_PATH = '/p2p-comm/1';
