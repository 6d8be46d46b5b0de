import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { nextFromParent, sendToParent } from './child-process';
import { startBenchNode, until } from './p2p-node';
import { peakRssMb, rssMb } from './process-memory';
import { nowMs } from './stats';

/**
 * The process under measurement in the scale runs, alone so that its RSS is
 * its own: either a p2p-comm node or, for the baseline, a plain ws server.
 * The parent simulates the peers. Messages over the IPC channel:
 *
 *   parent → child  {kind: 'start', peers: [base64 public key]}   (peers only for the node)
 *   child → parent  {kind: 'ready', address, publicKey, idleRssMb}
 *   parent → child  {kind: 'fan-out'}                           (once every peer has connected)
 *   child → parent  {kind: 'done', fanOutPerSecond, connectCpuMs, rssMb, peakRssMb}
 *   parent → child  {kind: 'stop'}                              (the child exits, writing a --cpu-prof profile if asked)
 */
export type ChildKind = 'p2p-node' | 'ws-server';

export type ToChild = { kind: 'start'; peers: string[] } | { kind: 'fan-out' } | { kind: 'stop' };
export type FromChild =
  | { kind: 'ready'; address: string; publicKey: string; idleRssMb: number }
  /** connectCpuMs: this process's CPU time (user + system) from 'ready' until every peer had connected. */
  | { kind: 'done'; fanOutPerSecond: number; connectCpuMs: number; rssMb: number; peakRssMb: number };

const FAN_OUT_BYTES = 256;

export async function runScaleChild(kind: ChildKind): Promise<void> {
  const start = (await nextFromParent()) as ToChild;
  if (start.kind !== 'start') throw new Error(`expected start, got ${start.kind}`);
  const child = kind === 'p2p-node' ? await p2pNodeChild(start.peers) : await wsServerChild();
  sendToParent({ kind: 'ready', address: child.address, publicKey: child.publicKey, idleRssMb: rssMb() });
  const idleCpu = process.cpuUsage();
  const fanOut = (await nextFromParent()) as ToChild;
  if (fanOut.kind !== 'fan-out') throw new Error(`expected fan-out, got ${fanOut.kind}`);
  // The peers see their connection a moment before this process has taken it in.
  await until(() => child.connections() === start.peers.length, 'every peer connection', 30_000);
  const connectCpuMs = cpuMs(process.cpuUsage(idleCpu));
  const began = nowMs();
  await child.fanOut();
  const fanOutPerSecond = start.peers.length / ((nowMs() - began) / 1000);
  sendToParent({ kind: 'done', fanOutPerSecond, connectCpuMs, rssMb: rssMb(), peakRssMb: peakRssMb() });
  await nextFromParent();
  await child.close();
  process.exit(0);
}

interface ChildUnderTest {
  address: string;
  /** base64; empty for the ws server. */
  publicKey: string;
  /** Peers connected (for the node: with a session). */
  connections(): number;
  /** One 256 B message to each peer, resolved once each is acknowledged. */
  fanOut(): Promise<void>;
  close(): Promise<void>;
}

async function p2pNodeChild(peerKeys: string[]): Promise<ChildUnderTest> {
  // The default transport limits: each simulated peer connects from a loopback address of its own.
  const node = await startBenchNode('scale node', {
    trusted: peerKeys.map((key, index) => ({ publicKey: Buffer.from(key, 'base64'), displayName: `peer ${index}`, addresses: [] })),
  });
  const peerIds = node.trust.list().map((peer) => peer.peerId);
  const content = 'x'.repeat(FAN_OUT_BYTES);
  return {
    address: node.address(),
    publicKey: Buffer.from(node.identity.publicKey).toString('base64'),
    connections: () => peerIds.filter((peer) => node.network.isOnline(peer)).length,
    fanOut: async () => {
      const delivered = node.events.deliveredReaches(peerIds.length);
      await Promise.all(peerIds.map((peer) => node.messenger.send({ peer, type: 'text', content, correlationId: null, ttlSeconds: null })));
      await delivered;
    },
    close: () => node.close(),
  };
}

async function wsServerChild(): Promise<ChildUnderTest> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(server, 'listening');
  const clients: WebSocket[] = [];
  server.on('connection', (socket) => clients.push(socket));
  const payload = Buffer.alloc(FAN_OUT_BYTES, 0x78);
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    publicKey: '',
    connections: () => clients.length,
    fanOut: async () => {
      let echoed = 0;
      const allEchoed = new Promise<void>((resolve) => {
        for (const client of clients) {
          client.once('message', () => {
            echoed += 1;
            if (echoed === clients.length) resolve();
          });
        }
      });
      for (const client of clients) client.send(payload, { binary: true });
      await allEchoed;
    },
    close: () =>
      new Promise((resolve) => {
        for (const client of clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

export function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}
