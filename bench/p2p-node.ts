import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_A2A_CONFIG,
  DEFAULT_MESSAGING_CONFIG,
  DEFAULT_NETWORK_CONFIG,
  DEFAULT_STDIO_LIMITS,
  eventOutboxLimits,
  type MessagingConfig,
  type NetworkConfig,
} from '../extension/config';
import { EventOutbox, type OutgoingEvent } from '../extension/events/outbox';
import type { NodeIdentity } from '../extension/identity/node-identity';
import type { Logger } from '../extension/log';
import type { FileService } from '../extension/files/file-service';
import type { Messenger } from '../extension/messaging/messenger';
import type { PeerNetwork } from '../extension/network/peer-network';
import { assembleNode } from '../extension/node-parts';
import type { InboxStore } from '../extension/store/inbox';
import type { TrustStore } from '../extension/trust/trust-store';
import { RefusalCounters } from '../extension/metrics/refusals';

/**
 * A p2p-comm node assembled in-process from the extension's own modules,
 * wired as extension/app.ts wires them, minus the stdio host session and
 * LAN discovery: what the benchmarks measure is the node itself.
 */
export interface BenchNode {
  readonly identity: NodeIdentity;
  readonly trust: TrustStore;
  readonly network: PeerNetwork;
  readonly messenger: Messenger;
  readonly inbox: InboxStore;
  readonly events: CountingEventOutbox;
  readonly refusals: RefusalCounters;
  /** File transfers: started only when the options ask for it. */
  readonly files: FileService;
  /** `127.0.0.1:port`, once started. */
  address(): string;
  close(): Promise<void>;
}

export interface BenchNodeOptions {
  network?: Partial<NetworkConfig>;
  messaging?: Partial<MessagingConfig>;
  /** Starts the file service, as app.ts does; off by default so the other scenarios measure messaging alone. */
  startFiles?: boolean;
  /** Keys pinned before the network starts. */
  trusted?: readonly { publicKey: Uint8Array; displayName: string; addresses: readonly string[] }[];
}

/** Same capacity as the extension's event queue; counts deliveries, which Messenger only reports as events. */
export class CountingEventOutbox extends EventOutbox {
  delivered = 0;
  private onDelivered: (() => void) | null = null;
  private readonly watchers = new Set<(event: OutgoingEvent) => void>();

  override enqueue(event: OutgoingEvent): void {
    if (event.type === 'p2p.message.delivered') {
      this.delivered += 1;
      this.onDelivered?.();
    }
    for (const watcher of this.watchers) watcher(event);
    super.enqueue(event);
  }

  /** Resolves with the first event from now on that `matches` accepts. */
  next(matches: (event: OutgoingEvent) => boolean): Promise<OutgoingEvent> {
    return new Promise((resolve) => {
      const watcher = (event: OutgoingEvent): void => {
        if (!matches(event)) return;
        this.watchers.delete(watcher);
        resolve(event);
      };
      this.watchers.add(watcher);
    });
  }

  /** Resolves once `count` deliveries have been counted in all. */
  deliveredReaches(count: number): Promise<void> {
    if (this.delivered >= count) return Promise.resolve();
    return new Promise((resolve) => {
      this.onDelivered = () => {
        if (this.delivered < count) return;
        this.onDelivered = null;
        resolve();
      };
    });
  }
}

/** Only errors are worth reading during a benchmark; they go to stderr like the extension's log. */
const quietLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message) => process.stderr.write(`bench node error: ${message}\n`),
};


/** A node with a fresh data dir, listening on 127.0.0.1, its messenger running. */
export async function startBenchNode(name: string, options: BenchNodeOptions = {}): Promise<BenchNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'p2p-comm-bench-'));
  // Off the DHT unless a scenario brings its own local testnet.
  const networkConfig: NetworkConfig = {
    ...DEFAULT_NETWORK_CONFIG,
    listenHost: '127.0.0.1',
    listenPort: 0,
    dht: { ...DEFAULT_NETWORK_CONFIG.dht, mode: 'off' },
    ...options.network,
  };
  const messagingConfig: MessagingConfig = { ...DEFAULT_MESSAGING_CONFIG, ...options.messaging };
  const events = new CountingEventOutbox(eventOutboxLimits(DEFAULT_STDIO_LIMITS));
  const refusals = new RefusalCounters();
  const { identity, trust, network, outboxStore, inbox, messenger, files } = assembleNode({
    dataDir,
    events,
    refusals,
    logger: quietLogger,
    networkConfig,
    messagingConfig,
    a2aConfig: DEFAULT_A2A_CONFIG,
    software: 'p2p-comm/bench',
    // No LAN discovery: bench peers are reached at the addresses pinned with their keys.
    discoveredAddress: () => null,
    hostName: name,
  });
  for (const peer of options.trusted ?? []) trust.trust(peer);
  messenger.start();
  if (options.startFiles === true) files.start();
  await network.start();
  const address = network.addresses()[0];
  if (address === undefined) throw new Error(`${name} is not listening: ${JSON.stringify(network.status().listening)}`);
  return {
    identity,
    trust,
    network,
    messenger,
    inbox,
    events,
    refusals,
    files,
    address: () => address,
    close: async () => {
      messenger.close();
      await network.close();
      // Started or not, its journal is open.
      await files.close();
      await Promise.all([outboxStore.close(), inbox.close()]);
      trust.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Pins each node's key in the other's trust store, as a completed pairing
 * would, then has `a` dial `b`; resolves once both hold the session.
 */
async function connectPair(a: BenchNode, b: BenchNode): Promise<void> {
  a.trust.trust({ publicKey: b.identity.publicKey, displayName: 'bench peer b', addresses: [b.address()] });
  b.trust.trust({ publicKey: a.identity.publicKey, displayName: 'bench peer a', addresses: [a.address()] });
  const outcome = await a.network.attemptNow(b.identity.peerId);
  if (outcome !== 'connected') throw new Error(`bench nodes did not connect: ${outcome}`);
  await until(() => b.network.isOnline(a.identity.peerId), 'the responder to see the session', 5000);
}

/** Two started nodes, each trusting the other, connected. */
export async function startConnectedPair(options: BenchNodeOptions = {}): Promise<{ a: BenchNode; b: BenchNode; close(): Promise<void> }> {
  const a = await startBenchNode('bench a', options);
  const b = await startBenchNode('bench b', options);
  await connectPair(a, b);
  return {
    a,
    b,
    // The sender first: the receiver then stores what is already on its socket before its own stores close.
    close: async () => {
      await a.close();
      await b.close();
    },
  };
}

/** Re-checks a condition on every turn of the event loop, up to a deadline. */
export async function until(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
