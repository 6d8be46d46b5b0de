import type { Test } from 'tap';
import { DEFAULT_A2A_CONFIG, DEFAULT_MESSAGING_CONFIG, DEFAULT_NETWORK_CONFIG, DEFAULT_STDIO_LIMITS, eventOutboxLimits, type FilesConfig } from '../../extension/config';
import { EventOutbox, type OutgoingEvent } from '../../extension/events/outbox';
import { RefusalCounters } from '../../extension/metrics/refusals';
import { headOf } from '../../extension/groups/group-membership';
import { GROUPS_CAPABILITY } from '../../extension/groups/group-service';
import { assembleNode, type NodeParts, type NodePartsOptions } from '../../extension/node-parts';
import { tempDir } from './extension';
import { quietLogger } from './messenger';
import { eventually } from './node';

/** An event outbox that keeps what was enqueued, for the test to look at. */
export class RecordingEvents extends EventOutbox {
  readonly seen: OutgoingEvent[] = [];
  override enqueue(event: OutgoingEvent): void {
    this.seen.push(event);
    super.enqueue(event);
  }

  /** The data of every event of this type, in order. */
  of(type: string): Record<string, unknown>[] {
    return this.seen.filter((event) => event.type === type).map((event) => event.data as Record<string, unknown>);
  }
}

export type InProcessNode = NodeParts & { events: RecordingEvents; refusals: RefusalCounters; address: string; dataDir: string };

/**
 * A node assembled in-process as extension/app.ts does, on 127.0.0.1, DHT
 * and LAN discovery off, its services started; stopped at teardown.
 * `options` replaces any of the assembly's options (a section of the config).
 */
export async function startInProcessNode(t: Test, name: string, options: Partial<NodePartsOptions> = {}): Promise<InProcessNode> {
  const events = new RecordingEvents(eventOutboxLimits(DEFAULT_STDIO_LIMITS));
  const refusals = new RefusalCounters();
  const dataDir = options.dataDir ?? tempDir(t);
  const parts = assembleNode({
    dataDir,
    events,
    refusals,
    logger: quietLogger,
    networkConfig: { ...DEFAULT_NETWORK_CONFIG, listenHost: '127.0.0.1', listenPort: 0, dht: { ...DEFAULT_NETWORK_CONFIG.dht, mode: 'off' } },
    messagingConfig: DEFAULT_MESSAGING_CONFIG,
    a2aConfig: DEFAULT_A2A_CONFIG,
    software: 'p2p-comm/test',
    discoveredAddress: () => null,
    hostName: name,
    ...options,
  });
  parts.messenger.start();
  parts.files.start();
  parts.groups.start();
  await parts.network.start();
  const address = parts.network.addresses()[0];
  if (address === undefined) throw new Error(`${name} is not listening`);
  t.teardown(async () => {
    parts.messenger.close();
    await parts.network.close();
    await parts.files.close();
    await parts.groups.close();
    await Promise.all([parts.outboxStore.close(), parts.inbox.close()]);
    parts.trust.close();
  });
  return { ...parts, events, refusals, address, dataDir };
}

/** `a` and `b` trust each other, and `a` opens a session to `b`. */
export async function connectNodes(t: Test, a: InProcessNode, b: InProcessNode): Promise<void> {
  a.trust.trust({ publicKey: b.identity.publicKey, displayName: b.profile.displayName, addresses: [b.address] });
  b.trust.trust({ publicKey: a.identity.publicKey, displayName: a.profile.displayName, addresses: [a.address] });
  t.equal(await a.network.attemptNow(b.identity.peerId), 'connected');
  await eventually(async () => b.network.isOnline(a.identity.peerId), 'both sides to see the session');
}

/** Two nodes started with these file settings, trusting each other, with a session open between them. */
export async function pairedNodes(t: Test, filesConfig?: FilesConfig) {
  const options = filesConfig === undefined ? {} : { filesConfig };
  const a = await startInProcessNode(t, 'node a', options);
  const b = await startInProcessNode(t, 'node b', options);
  await connectNodes(t, a, b);
  return { a, b, aId: a.identity.peerId, bId: b.identity.peerId };
}

/** Alice, Bob and Carol, Bob and Carol each paired with Alice only, with Alice holding their hellos (and so knowing they take groups). */
export async function threeNodes(t: Test) {
  const alice = await startInProcessNode(t, 'alice');
  const bob = await startInProcessNode(t, 'bob');
  const carol = await startInProcessNode(t, 'carol');
  await connectNodes(t, alice, bob);
  await connectNodes(t, alice, carol);
  const [aliceId, bobId, carolId] = [alice, bob, carol].map((node) => node.identity.peerId) as [string, string, string];
  for (const peer of [bobId, carolId]) {
    await eventually(async () => alice.messenger.helloOf(peer)?.capabilities.includes(GROUPS_CAPABILITY), `the hello of ${peer} to list groups-v1`);
  }
  return { alice, bob, carol, aliceId, bobId, carolId };
}

/** The epoch of the group's latest statement this node holds; undefined when it holds none. */
export function epochAt(node: InProcessNode, id: string): number | undefined {
  const group = node.groups.store.get(id);
  return group === undefined ? undefined : headOf(group).epoch;
}
