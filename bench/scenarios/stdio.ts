import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { manifest } from '../../extension/common/manifest';
import { ExtensionProcess } from '../../permissions/host/extension-process';
import { nowMs } from '../stats';

/**
 * The cost of a call through the stdio JSON-RPC, as Nexus makes it: the
 * built binary spawned by ExtensionProcess (the reference host's Nexus
 * model), one call at a time, the extension's event.publish requests
 * answered inline. `status` does no I/O and stands for the protocol's own
 * cost; `send` adds the operation: a 256 B text message to a paired node
 * (a second spawned binary), written to the outbox and fsync'd before the
 * answer, plus the events the node queued since the last call (a
 * delivery), each an extra request and answer on stdio.
 */

/** The binary `npm run build` makes; npm runs scripts from the package root. */
const BINARY = resolve(process.cwd(), 'dist', 'p2p-comm');

const NODE_ENV = {
  P2P_COMM_LISTEN_HOST: '127.0.0.1',
  // Nothing announced on the LAN: the nodes pair by link.
  P2P_COMM_MDNS: 'off',
  P2P_COMM_DHT: 'off',
  P2P_COMM_RECONNECT_BASE_MS: '50',
  P2P_COMM_RECONNECT_MAX_MS: '400',
  P2P_COMM_LOG_LEVEL: 'warn',
};

export interface HostedNode {
  extension: ExtensionProcess;
  /** event.publish requests the host has answered. */
  publishedEvents(): number;
  call(operation: string, input?: Record<string, unknown>): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export async function startHostedNode(name: string, env: Record<string, string> = {}): Promise<HostedNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'p2p-comm-bench-stdio-'));
  let published = 0;
  const { extension } = await ExtensionProcess.start({
    binary: BINARY,
    extensionId: manifest.id,
    version: manifest.version,
    dataDir,
    env: { ...process.env, ...NODE_ENV, ...env },
    onRequest: (method) => {
      if (method !== 'event.publish') throw new Error(`Unknown IPC method: ${method}`);
      published += 1;
      return { event_id: `${name}-${published}` };
    },
    onStderrLine: (line) => process.stderr.write(`${name}: ${line}\n`),
  });
  const call = async (operation: string, input: Record<string, unknown> = {}): Promise<Record<string, unknown>> => {
    const response = await extension.execute(operation, input);
    if (response.error !== undefined) throw new Error(`${name} ${operation}: ${response.error.message}`);
    return (response.result as { data: Record<string, unknown> }).data;
  };
  return {
    extension,
    publishedEvents: () => published,
    call,
    stop: async () => {
      await extension.shutdown();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Calls `check` until it returns a value, each call a round trip to a node, up to a deadline. */
export async function eventually<T>(check: () => Promise<T | null>, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await check();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface StdioBench {
  /** Calls per second for `count` calls of the operation, one after another. */
  statusCalls(count: number): Promise<number>;
  sendCalls(count: number): Promise<{ perSecond: number; eventsPerCall: number }>;
  stop(): Promise<void>;
}

/** Two spawned nodes, paired through the real consent flow (pair, then accept), connected. */
export async function startStdioBench(): Promise<StdioBench> {
  const alice = await startHostedNode('alice');
  const bob = await startHostedNode('bob');
  const link = await eventually(async () => ((await bob.call('identity'))['link'] as string | null) ?? null, 'bob to listen');
  const paired = await alice.call('pair', { link });
  if (paired['state'] !== 'delivered') throw new Error(`pair answered ${JSON.stringify(paired)}`);
  const bobId = paired['peer'] as string;
  const incoming = ((await bob.call('requests'))['incoming'] as { request_id: string; peer: string }[])[0];
  if (incoming === undefined) throw new Error('bob has no incoming pairing request');
  await bob.call('accept', { request_id: incoming.request_id, peer: incoming.peer });
  await eventually(async () => {
    const peers = (await alice.call('peers'))['peers'] as { peer: string; online: boolean }[];
    return peers.some((peer) => peer.peer === bobId && peer.online) ? true : null;
  }, 'alice to hold a session with bob');
  const aliceId = incoming.peer;
  // Bob's agent reads and acknowledges between runs (not timed), so his inbox stays within its default limits.
  const readAll = async (): Promise<void> => {
    for (;;) {
      const read = (await bob.call('receive', { peer: aliceId, limit: 500 })) as { messages: unknown[]; next_cursor: number };
      if (read.messages.length === 0) return;
      await bob.call('ack', { peer: aliceId, through: read.next_cursor });
    }
  };
  const content = 'x'.repeat(256);
  const timed = async (count: number, operation: string, input: Record<string, unknown>): Promise<number> => {
    const start = nowMs();
    for (let i = 0; i < count; i += 1) await alice.call(operation, input);
    return count / ((nowMs() - start) / 1000);
  };
  return {
    statusCalls: (count) => timed(count, 'status', {}),
    sendCalls: async (count) => {
      const before = alice.publishedEvents();
      const perSecond = await timed(count, 'send', { peer: bobId, type: 'text', content });
      const eventsPerCall = (alice.publishedEvents() - before) / count;
      await readAll();
      return { perSecond, eventsPerCall };
    },
    stop: async () => void (await Promise.all([alice.stop(), bob.stop()])),
  };
}
