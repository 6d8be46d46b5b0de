import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { HandshakeRateLimiter } from './handshake-rate';
import { WEBSOCKET_PATH, type TransportLimits } from './limits';

export type ServerRefusal = 'handshake_rate_limited' | 'ip_connection_cap' | 'connection_cap' | 'bad_upgrade' | 'upgrade_timeout';

export interface PeerServerOptions {
  host: string;
  port: number;
  limits: TransportLimits;
  /**
   * A socket that completed the WebSocket upgrade. `acceptedAt` (Date.now()
   * at TCP accept) is where the handshake timeout counts from: the upgrade
   * already spent part of it. `stream` is what the WebSocket runs over: a
   * TCP socket, or a stream handed in by acceptStream.
   */
  onConnection: (socket: WebSocket, remoteAddress: string, acceptedAt: number, stream: Duplex) => void;
  onRefused: (reason: ServerRefusal, remoteAddress: string) => void;
  /** Clock of the per-address handshake rate; tests inject one. */
  rateClock?: () => number;
}

interface AwaitingUpgrade {
  acceptedAt: number;
  deadline: NodeJS.Timeout;
}

const NOT_FOUND = 'HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n';

/**
 * Accepts WebSocket connections from peers. The per-address rate and the
 * connection caps are enforced on the raw TCP socket, before any HTTP
 * parsing, so a flood costs little; the HTTP upgrade itself must complete
 * within the handshake timeout.
 */
export class PeerServer {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly handshakeRate: HandshakeRateLimiter;
  private readonly perIp = new Map<string, number>();
  private readonly awaitingUpgrade = new Map<Socket, AwaitingUpgrade>();
  private total = 0;

  constructor(private readonly options: PeerServerOptions) {
    const { limits } = options;
    this.handshakeRate = new HandshakeRateLimiter({
      rate: limits.handshakeRate,
      maxAddresses: limits.handshakeRateAddresses,
      ...(options.rateClock === undefined ? {} : { now: options.rateClock }),
    });
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: limits.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.http = createServer((request, response) => {
      this.options.onRefused('bad_upgrade', request.socket.remoteAddress ?? 'unknown');
      response.writeHead(426, { connection: 'close' }).end();
    });
    this.http.on('connection', (socket: Socket) => this.admit(socket));
    this.http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(request, socket, head));
    this.http.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      // The parser's errors (HPE_*: malformed request, oversized headers) are refused input; a reset is not.
      if (error.code?.startsWith('HPE_') === true) this.options.onRefused('bad_upgrade', socket.remoteAddress ?? 'unknown');
      socket.destroy();
    });
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.http.once('error', onError);
      this.http.listen(this.options.port, this.options.host, () => {
        this.http.off('error', onError);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  /**
   * Serves a connection that arrived by another way than TCP (a DHT
   * stream): the same caps, rate, upgrade deadline and WebSocket as a TCP
   * connection, with its `remoteAddress` standing for the address.
   */
  acceptStream(stream: Duplex & { remoteAddress: string }): void {
    this.http.emit('connection', stream);
  }

  get connections(): number {
    return this.total;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.wss.close();
      this.http.closeAllConnections();
      this.http.close(() => resolve());
    });
  }

  private admit(socket: Socket): void {
    const ip = socket.remoteAddress ?? 'unknown';
    const { limits } = this.options;
    // The rate first: every connection from the address is charged, even one the caps would refuse.
    if (!this.handshakeRate.take(ip)) return this.refuse(socket, 'handshake_rate_limited', ip);
    if (this.total >= limits.maxConnections) return this.refuse(socket, 'connection_cap', ip);
    const count = this.perIp.get(ip) ?? 0;
    if (count >= limits.maxConnectionsPerIp) return this.refuse(socket, 'ip_connection_cap', ip);
    this.total += 1;
    this.perIp.set(ip, count + 1);
    this.awaitUpgrade(socket, ip);
    socket.once('close', () => {
      this.stopUpgradeDeadline(socket);
      this.total -= 1;
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left === 0) this.perIp.delete(ip);
      else this.perIp.set(ip, left);
    });
  }

  /**
   * The deadline of the HTTP upgrade, from TCP accept, on a timer of its
   * own: Node checks its headersTimeout and requestTimeout only every
   * connectionsCheckingInterval (30 s), so a silent socket or request
   * headers trickled a byte at a time would otherwise hold a connection
   * slot up to 30 s past the handshake timeout. A complete request that
   * asks for no upgrade does not wait for it: it is answered 426 and closed.
   */
  private awaitUpgrade(socket: Socket, ip: string): void {
    const deadline = setTimeout(() => this.refuse(socket, 'upgrade_timeout', ip), this.options.limits.handshakeTimeoutMs);
    this.awaitingUpgrade.set(socket, { acceptedAt: Date.now(), deadline });
  }

  /** Stops the upgrade deadline, if it still runs; returns what was kept about the socket. */
  private stopUpgradeDeadline(socket: Socket): AwaitingUpgrade | undefined {
    const awaiting = this.awaitingUpgrade.get(socket);
    if (awaiting === undefined) return undefined;
    clearTimeout(awaiting.deadline);
    this.awaitingUpgrade.delete(socket);
    return awaiting;
  }

  private refuse(socket: Socket, reason: ServerRefusal, ip: string): void {
    this.options.onRefused(reason, ip);
    socket.destroy();
  }

  private upgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    const ip = socket.remoteAddress ?? 'unknown';
    if (request.url !== WEBSOCKET_PATH) {
      this.options.onRefused('bad_upgrade', ip);
      // Closed once the answer is written, whether or not the sender ever closes its side.
      socket.end(NOT_FOUND, () => socket.destroy());
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      const acceptedAt = this.stopUpgradeDeadline(socket)?.acceptedAt ?? Date.now();
      // ws reports a protocol violation (an oversize frame, a bad opcode) as
      // 'error' and then closes; the owner acts on 'close'. Unheard, the
      // 'error' would take the whole process down.
      ws.on('error', () => undefined);
      this.options.onConnection(ws, ip, acceptedAt, socket);
    });
  }
}
