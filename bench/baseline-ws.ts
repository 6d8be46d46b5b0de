import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { nowMs, percentile, timedWindow } from './stats';

/**
 * The raw baseline: a plain ws WebSocketServer and client on 127.0.0.1 in
 * this process (where the in-process nodes run too), binary messages, no
 * signing, encryption or storage. Options as p2p-comm's transport sets
 * them: no compression.
 */
interface WsServer {
  url: string;
  server: WebSocketServer;
  close(): Promise<void>;
}

async function startWsServer(): Promise<WsServer> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 2 * 1024 * 1024 });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/`,
    server,
    close: () =>
      new Promise((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

async function openClient(url: string): Promise<WebSocket> {
  const client = new WebSocket(url, { perMessageDeflate: false, maxPayload: 2 * 1024 * 1024 });
  await once(client, 'open');
  return client;
}

/** A connected client and the server's end of it. */
async function connectedPair(): Promise<{ client: WebSocket; peer: WebSocket; close(): Promise<void> }> {
  const server = await startWsServer();
  const accepted = once(server.server, 'connection') as Promise<[WebSocket]>;
  const client = await openClient(server.url);
  const [peer] = await accepted;
  return { client, peer, close: server.close };
}

export interface WsThroughput {
  messagesPerSecond: number;
  /** CPU time of this process (both ends) per message, user and system. */
  cpuUsPerMessage: number;
}

/**
 * One-way messages per second, counted when the server has them, with at
 * most `window` sent and not yet received: the same flow control the
 * p2p-comm throughput run uses.
 */
export async function wsThroughput(payloadBytes: number, window: number, durationMs: number): Promise<WsThroughput> {
  const { client, peer, close } = await connectedPair();
  const payload = randomBytes(payloadBytes);
  let sent = 0;
  let received = 0;
  let running = true;
  const refill = (): void => {
    while (running && sent - received < window) {
      client.send(payload, { binary: true });
      sent += 1;
    }
  };
  peer.on('message', () => {
    received += 1;
    refill();
  });
  const run = await timedWindow(durationMs, refill, () => received);
  running = false;
  await close();
  return { messagesPerSecond: run.perSecond, cpuUsPerMessage: run.cpuUsPerMessage };
}

export interface RoundTrips {
  p50Ms: number;
  p99Ms: number;
  perSecond: number;
}

/** One message at a time: the client sends, the server echoes, the client waits for it before the next. */
export async function wsRoundTrips(count: number, payloadBytes: number): Promise<RoundTrips> {
  const { client, peer, close } = await connectedPair();
  const payload = randomBytes(payloadBytes);
  peer.on('message', (data: Buffer) => peer.send(data, { binary: true }));
  const times: number[] = [];
  const start = nowMs();
  for (let i = 0; i < count; i += 1) {
    const sentAt = nowMs();
    const echoed = once(client, 'message');
    client.send(payload, { binary: true });
    await echoed;
    times.push(nowMs() - sentAt);
  }
  const perSecond = count / ((nowMs() - start) / 1000);
  await close();
  return { p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), perSecond };
}

/** Time from `new WebSocket` to 'open' (TCP connect and HTTP upgrade), for fresh connections one after another. */
export async function wsConnectTimes(count: number): Promise<number[]> {
  const server = await startWsServer();
  const times: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const start = nowMs();
    const client = await openClient(server.url);
    times.push(nowMs() - start);
    client.terminate();
  }
  await server.close();
  return times;
}
