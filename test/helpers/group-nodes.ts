import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { P2pError } from '../../extension/common/errors';
import { DEFAULT_GROUP_STORE_LIMITS, GroupStore, type GroupStoreLimits } from '../../extension/groups/group-store';
import { GROUPS_CAPABILITY, GroupService } from '../../extension/groups/group-service';
import { GroupMessageLog, type GroupMessageLimits } from '../../extension/groups/group-messages';
import { encodeContent } from '../../extension/messaging/payload';
import { InboxStore } from '../../extension/store/inbox';
import type { OutgoingMessage } from '../../extension/store/outbox';
import type { MessageType } from '../../extension/store/record-fields';
import type { TrustedPeerRecord, TrustState } from '../../extension/trust/trust-store';
import { decodeGroupControl, type GroupControl } from '../../extension/wire/group-payload';
import { tempDir } from './extension';
import { groupPerson, type GroupPerson } from './groups';
import { quietLogger } from './messenger';

/**
 * Group nodes in one process without a network: each has its own inbox
 * (a real InboxStore) and groups.json, and its messenger hands a message
 * straight to the recipient's inbox, as a delivered batch would. The test
 * can hold back copies (`holdBack`) and release them later, in any order,
 * to play a network that does not keep order; a node can stop and start
 * again on the same files.
 */
export interface SentCopy {
  from: string;
  to: string;
  messageId: string;
  type: MessageType;
  content: Uint8Array;
}

export interface GroupNode {
  person: GroupPerson;
  peer: string;
  dir: string;
  service: GroupService;
  store: GroupStore;
  inbox: InboxStore;
  events: { type: string; data: Record<string, unknown> }[];
  refusals: { from: string; reason: string; charged: boolean }[];
  /** What `failPending` was asked to fail. */
  failed: { peer: string; ids: string[]; reason: string }[];
  /** What the outbox says is pending, per recipient (the test fills it). */
  pending: Map<string, OutgoingMessage[]>;
  trust: Map<string, { record: TrustedPeerRecord }>;
  /** Peers whose hello lacks groups-v1. */
  withoutGroups: Set<string>;
  /** Peers this node has no hello from yet. */
  noHello: Set<string>;
  /** Tells the service a message to a peer settled, as the messenger does. */
  settle: (peer: string, messageId: string, state: 'delivered' | 'failed' | 'expired', reason: string | null) => void;
  running: boolean;
  /** The group message log, when the nodes take group messages. */
  log: GroupMessageLog | undefined;
  /** Message ids the fake outbox holds (what `outbox.get` finds). */
  outboxIds: Set<string>;
}

/** The message path's settings for the nodes; without them, nodes refuse group messages. */
export interface GroupMessageSettings {
  limits?: Partial<GroupMessageLimits>;
  maxMessageBytes?: number;
  gapHoldSeconds?: number;
  now?: () => number;
}

export class GroupNodes {
  readonly nodes = new Map<string, GroupNode>();
  readonly held: SentCopy[] = [];
  /** Copies for which it answers true wait in `held` until released. */
  holdBack: (copy: SentCopy) => boolean = () => false;
  /** Sends to these peers throw, as a full outbox does. */
  readonly outboxFullFor = new Set<string>();
  private readonly undelivered: SentCopy[] = [];

  constructor(
    private readonly t: Test,
    private readonly limits: Partial<GroupStoreLimits> = {},
    private readonly messages?: GroupMessageSettings,
  ) {}

  /** A node with a fixed identity (seed byte), not yet paired with anyone. */
  async add(seedByte: number, name: string): Promise<GroupNode> {
    const person = groupPerson(seedByte, name);
    const node: GroupNode = {
      person,
      peer: person.peer,
      dir: tempDir(this.t),
      events: [],
      refusals: [],
      failed: [],
      pending: new Map(),
      trust: new Map(),
      withoutGroups: new Set(),
      noHello: new Set(),
      outboxIds: new Set(),
      running: false,
    } as unknown as GroupNode;
    this.nodes.set(person.peer, node);
    this.start(node);
    this.t.teardown(() => this.stop(node));
    return node;
  }

  /** Both trust each other. */
  pair(a: GroupNode, b: GroupNode): void {
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      self.trust.set(other.peer, { record: recordOf(other) });
    }
  }

  /** `node` revokes `peer`. */
  revoke(node: GroupNode, peer: string, state: TrustState = 'revoked'): void {
    const entry = node.trust.get(peer);
    if (entry !== undefined) entry.record = { ...entry.record, state };
  }

  /** `node` now knows `peer` signs with `key` (after a rotation). */
  rekey(node: GroupNode, peer: string, key: Uint8Array): void {
    const entry = node.trust.get(peer);
    if (entry === undefined) throw new Error('not paired');
    entry.record = { ...entry.record, publicKey: key, keyHistory: [...entry.record.keyHistory, { publicKey: key, pinnedAt: new Date(), retiredAt: null }] };
  }

  start(node: GroupNode): void {
    node.inbox = InboxStore.open(node.dir);
    node.store = GroupStore.open(node.dir, node.peer, { ...DEFAULT_GROUP_STORE_LIMITS, ...this.limits });
    const settings = this.messages;
    node.log = settings === undefined ? undefined : GroupMessageLog.open(node.dir, settings.limits ?? {}, settings.now);
    const settledListeners: ((peerId: string, messageId: string, state: 'delivered' | 'failed' | 'expired', reason: string | null) => void)[] = [];
    node.service = new GroupService({
      self: { peerId: node.peer, publicKey: node.person.identity.publicKey, sign: (message) => node.person.identity.sign(message) },
      displayName: () => node.person.name,
      store: node.store,
      inbox: node.inbox,
      messenger: {
        send: async (request) => this.send(node, request.peer, request.type, request.content, request.messageId),
        helloOf: (peer) =>
          this.nodes.has(peer) && !node.noHello.has(peer)
            ? { protocolVersion: 2, agent: 'x', capabilities: node.withoutGroups.has(peer) ? ['text'] : [GROUPS_CAPABILITY], software: 't', dhtBinding: null }
            : undefined,
        onSettled: (listener) => void settledListeners.push(listener),
        failPending: async (peer, ids, reason) => {
          node.failed.push({ peer, ids: [...ids], reason });
          return [...ids];
        },
      },
      outbox: {
        pendingFor: (peer) => node.pending.get(peer) ?? [],
        get: (messageId) => (node.outboxIds.has(messageId) ? ({ messageId } as OutgoingMessage) : undefined),
      },
      trust: {
        list: () => [...node.trust.keys()].map((peerId) => ({ peerId })),
        get: (peer) => node.trust.get(peer)?.record,
        stateOf: (peer) => node.trust.get(peer)?.record.state,
        currentKey: (peer) => node.trust.get(peer)?.record.publicKey,
        isTrusted: (peer) => node.trust.get(peer)?.record.state === 'trusted',
      },
      events: { enqueue: (event) => void node.events.push(event) },
      refuse: (from, reason, charged) => void node.refusals.push({ from, reason, charged }),
      logger: quietLogger,
      config: { sweepMs: 3_600_000 },
      messages:
        node.log === undefined
          ? undefined
          : { log: node.log, config: { maxMessageBytes: settings?.maxMessageBytes ?? 262_144, gapHoldSeconds: settings?.gapHoldSeconds ?? 604_800 } },
      ...(settings?.now === undefined ? {} : { now: settings.now }),
    });
    node.settle = (peer, messageId, state, reason) => {
      for (const listener of settledListeners) listener(peer, messageId, state, reason);
    };
    node.running = true;
    node.service.start();
    for (const copy of this.undelivered.splice(0).filter((waiting) => waiting.to === node.peer)) this.held.push(copy);
  }

  async stop(node: GroupNode): Promise<void> {
    if (!node.running) return;
    node.running = false;
    await node.service.close();
    await node.inbox.close();
  }

  async restart(node: GroupNode): Promise<void> {
    await this.stop(node);
    this.start(node);
  }

  /** Hands over held copies (those `which` picks, all by default), in the order given. */
  async release(which: (copy: SentCopy) => boolean = () => true): Promise<void> {
    const chosen = this.held.filter(which);
    for (const copy of chosen) this.held.splice(this.held.indexOf(copy), 1);
    for (const copy of chosen) await this.deliver(copy);
    await this.settled();
  }

  /** Resolves once no node has a group message left to take. */
  async settled(): Promise<void> {
    for (let round = 0; round < 1000; round += 1) {
      const running = [...this.nodes.values()].filter((node) => node.running);
      await Promise.all(running.map((node) => node.service.whenIdle()));
      const busy = running.some((node) => [...this.nodes.keys()].some((peer) => node.inbox.hasMessagesAfter(peer, 0, 'groups')));
      if (!busy) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
    throw new Error('the group nodes never settled');
  }

  /** Controls sent from `from` to `to`, decoded. */
  controls(from: GroupNode, to: GroupNode): GroupControl[] {
    return this.sent.filter((copy) => copy.from === from.peer && copy.to === to.peer && copy.type === 'group_control').map((copy) => decodeGroupControl(copy.content));
  }

  readonly sent: SentCopy[] = [];

  private async send(from: GroupNode, to: string, type: MessageType, content: unknown, messageId?: string): Promise<{ messageId: string; state: 'queued'; size: number }> {
    const bytes = encodeContent(type, content, 1024 * 1024);
    if (this.outboxFullFor.has(to)) throw new P2pError('LIMIT_REACHED', `the outbox for ${to} is full`);
    const copy: SentCopy = { from: from.peer, to, messageId: messageId ?? randomBytes(16).toString('hex'), type, content: bytes };
    this.sent.push(copy);
    from.outboxIds.add(copy.messageId);
    if (this.holdBack(copy)) this.held.push(copy);
    else await this.deliver(copy);
    return { messageId: copy.messageId, state: 'queued', size: bytes.length };
  }

  private async deliver(copy: SentCopy): Promise<void> {
    const recipient = this.nodes.get(copy.to);
    if (recipient === undefined) return;
    if (!recipient.running) {
      this.undelivered.push(copy);
      return;
    }
    await recipient.inbox.add({
      messageId: copy.messageId,
      peerId: copy.from,
      type: copy.type,
      correlationId: null,
      content: copy.content,
      digest: randomBytes(16),
      proof: new Uint8Array(0),
      sentAt: new Date(),
    });
  }
}

function recordOf(node: GroupNode): TrustedPeerRecord {
  const key = node.person.identity.publicKey;
  return {
    peerId: node.peer,
    publicKey: key,
    displayName: node.person.name,
    addresses: [],
    state: 'trusted',
    firstSeen: new Date(),
    lastSeen: null,
    trustedAt: new Date(),
    revokedAt: null,
    keyHistory: [{ publicKey: key, pinnedAt: new Date(), retiredAt: null }],
    refusedKeys: [],
    keyChain: [],
  };
}

/** A message as an outbox holds it pending, for the fake messenger's pending lists. */
export function pendingOutgoing(messageId: string, peerId: string, type: MessageType, content: Uint8Array): OutgoingMessage {
  return {
    messageId,
    peerId,
    type,
    correlationId: null,
    content,
    createdAt: new Date(),
    expiresAt: new Date(Date.now() + 60_000),
    state: 'queued',
    updatedAt: new Date(),
    reason: null,
    attempts: 0,
  };
}
