import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { WEBSOCKET_PATH, type TransportLimits } from './limits';

export type ServerRefusal = 'ip_connection_cap' | 'connection_cap' | 'bad_upgrade' | 'upgrade_timeout';

export interface PeerServerOptions {
  host: string;
  port: number;
  limits: TransportLimits;
  onConnection: (socket: WebSocket, remoteAddress: string) => void;
  onRefused: (reason: ServerRefusal, remoteAddress: string) => void;
}

/**
 * Accepts WebSocket connections from peers. Connection caps are enforced
 * on the raw TCP socket, before any HTTP parsing, so a flood costs little;
 * the HTTP upgrade itself must complete within the handshake timeout.
 */
export class PeerServer {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly perIp = new Map<string, number>();
  private total = 0;

  constructor(private readonly options: PeerServerOptions) {
    const { limits } = options;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: limits.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
      // One message per turn of the event loop: a socket read can hold
      // hundreds of small frames, and handling them all in one go (each may
      // cost a signature check) would keep stdin, and so every host call,
      // waiting behind a peer's flood. ws then reads the socket only as fast
      // as messages are handled, which pushes back on the sender.
      allowSynchronousEvents: false,
    });
    this.http = createServer((_request, response) => {
      response.writeHead(426, { connection: 'close' }).end();
    });
    this.http.headersTimeout = limits.handshakeTimeoutMs;
    this.http.requestTimeout = limits.handshakeTimeoutMs;
    this.http.on('connection', (socket: Socket) => this.admit(socket));
    this.http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(request, socket, head));
    this.http.on('clientError', (_error, socket: Socket) => socket.destroy());
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
    const { limits, onRefused } = this.options;
    if (this.total >= limits.maxConnections) {
      onRefused('connection_cap', ip);
      socket.destroy();
      return;
    }
    const count = this.perIp.get(ip) ?? 0;
    if (count >= limits.maxConnectionsPerIp) {
      onRefused('ip_connection_cap', ip);
      socket.destroy();
      return;
    }
    this.total += 1;
    this.perIp.set(ip, count + 1);
    socket.once('close', () => {
      this.total -= 1;
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left === 0) this.perIp.delete(ip);
      else this.perIp.set(ip, left);
    });
  }

  private upgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    const ip = socket.remoteAddress ?? 'unknown';
    if (request.url !== WEBSOCKET_PATH) {
      this.options.onRefused('bad_upgrade', ip);
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      // ws reports a protocol violation (an oversize frame, a bad opcode) as
      // 'error' and then closes; the owner acts on 'close'. Unheard, the
      // 'error' would take the whole process down.
      ws.on('error', () => undefined);
      this.options.onConnection(ws, ip);
    });
  }
}
