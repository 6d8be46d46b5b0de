/**
 * Nodes assembled in-process as extension/app.ts does, for file transfer
 * tests: on 127.0.0.1, DHT and LAN discovery off, every event recorded.
 */
import type { Test } from 'tap';
import {
  DEFAULT_A2A_CONFIG,
  DEFAULT_FILES_CONFIG,
  DEFAULT_MESSAGING_CONFIG,
  DEFAULT_NETWORK_CONFIG,
  DEFAULT_STDIO_LIMITS,
  eventOutboxLimits,
  type FilesConfig,
} from '../../extension/config';
import { EventOutbox, type OutgoingEvent } from '../../extension/events/outbox';
import { RefusalCounters } from '../../extension/metrics/refusals';
import { assembleNode, type NodeParts } from '../../extension/node-parts';
import { tempDir } from './extension';
import { quietLogger } from './messenger';
import { eventually } from './node';

export type FileNode = NodeParts & { events: RecordingEvents; address: string };

export class RecordingEvents extends EventOutbox {
  readonly seen: OutgoingEvent[] = [];
  override enqueue(event: OutgoingEvent): void {
    this.seen.push(event);
    super.enqueue(event);
  }
}

/** A node assembled in-process as extension/app.ts does, on 127.0.0.1, DHT and LAN discovery off. */
export async function startNode(t: Test, name: string, filesConfig: FilesConfig): Promise<FileNode> {
  const events = new RecordingEvents(eventOutboxLimits(DEFAULT_STDIO_LIMITS));
  const parts = assembleNode({
    dataDir: tempDir(t),
    events,
    refusals: new RefusalCounters(),
    logger: quietLogger,
    networkConfig: { ...DEFAULT_NETWORK_CONFIG, listenHost: '127.0.0.1', listenPort: 0, dht: { ...DEFAULT_NETWORK_CONFIG.dht, mode: 'off' } },
    messagingConfig: DEFAULT_MESSAGING_CONFIG,
    a2aConfig: DEFAULT_A2A_CONFIG,
    filesConfig,
    software: 'p2p-comm/test',
    discoveredAddress: () => null,
    hostName: name,
  });
  parts.messenger.start();
  parts.files.start();
  await parts.network.start();
  const address = parts.network.addresses()[0];
  if (address === undefined) throw new Error(`${name} is not listening`);
  t.teardown(async () => {
    parts.messenger.close();
    await parts.network.close();
    await parts.files.close();
    await Promise.all([parts.outboxStore.close(), parts.inbox.close()]);
    parts.trust.close();
  });
  return { ...parts, events, address };
}

/** Two nodes that trust each other, with a session open between them. */
export async function pairedNodes(t: Test, filesConfig: FilesConfig = DEFAULT_FILES_CONFIG) {
  const a = await startNode(t, 'node a', filesConfig);
  const b = await startNode(t, 'node b', filesConfig);
  const aId = a.identity.peerId;
  const bId = b.identity.peerId;
  a.trust.trust({ publicKey: b.identity.publicKey, displayName: 'node b', addresses: [b.address] });
  b.trust.trust({ publicKey: a.identity.publicKey, displayName: 'node a', addresses: [a.address] });
  t.equal(await a.network.attemptNow(bId), 'connected');
  await eventually(async () => b.network.isOnline(aId), 'B to see the session');
  return { a, b, aId, bId };
}
