import { P2pError } from '../common/errors';
import type { Logger } from '../log';
import { MessageIds } from '../messaging/message-ids';
import type { Messenger } from '../messaging/messenger';
import type { StoredMessage } from '../store/inbox';
import type { OutgoingMessage } from '../store/outbox';
import type { TrustedPeerRecord } from '../trust/trust-store';
import { type GroupEnvelope, type GroupMessage, signGroupEnvelope } from '../wire/group-payload';
import type { EpochStatement, GroupSigner } from '../wire/group-statement';
import { canonicalJson } from '../wire/jcs';
import type { GroupMessageLog, StoredGroupMessage } from './group-messages';
import { GroupOrder } from './group-order';
import { copiesToResend, type PeerFacts, planCopies } from './group-routing';
import type { GroupMessageHandler } from './group-service';
import type { GroupStore, OutgoingSend, StoredGroup } from './group-store';

/** Messages one group_receive returns at most, and the longest it waits for one. */
export const MAX_GROUP_RECEIVE_LIMIT = 100;
export const MAX_GROUP_RECEIVE_WAIT_MS = 30_000;
const DEFAULT_GROUP_RECEIVE_LIMIT = 100;

export interface GroupSendInput {
  type: 'text' | 'json';
  content: unknown;
  ttlSeconds?: number | null;
}

export interface GroupSendResult {
  group: string;
  id: string;
  seq: number;
  /** One row per member reached: its own copy (`direct`), or the creator's copy that it relays (`creator`). */
  copies: { peer: string; message_id: string; via: 'direct' | 'creator' }[];
}

export interface GroupReceiveInput {
  after?: number;
  limit?: number;
  waitMs?: number;
  ackThrough?: number;
}

export interface GroupReceivedMessage {
  cursor: number;
  id: string;
  author: string;
  author_name: string | null;
  seq: number;
  epoch: number;
  type: 'text' | 'json';
  content: unknown;
  created_at: string;
  received_at: string;
  gap: boolean;
}

export interface GroupDeliveryOptions {
  self: { peerId: string } & GroupSigner;
  store: GroupStore;
  log: GroupMessageLog;
  messenger: Pick<Messenger, 'send'>;
  outbox: { get(messageId: string): OutgoingMessage | undefined };
  trust: { get(peerId: string): TrustedPeerRecord | undefined; isTrusted(peerId: string): boolean; currentKey(peerId: string): Uint8Array | undefined };
  events: { enqueue(event: { type: string; subject?: string; data: Record<string, unknown> }): void };
  refuse: (peerId: string, reason: string, charged: boolean) => void;
  logger: Logger;
  /** P2P_COMM_GROUP_MAX_MESSAGE_BYTES and P2P_COMM_GROUP_GAP_HOLD_SECONDS × 1000. */
  config: { maxMessageBytes: number; gapHoldMs: number };
  /** The group service's one-change-at-a-time lock: copies are queued under it, so an epoch removing a member never runs between planning a copy to it and queuing it. */
  exclusive: <T>(work: () => Promise<T>) => Promise<T>;
  /** A reader acked: senders whose group messages waited for room can be taken again. */
  roomMade: () => void;
  now?: () => number;
}

/**
 * The group message path (design §4.4 Send / Relay / Receive): this node's
 * messages signed and sent, one pairwise copy per member (through the
 * creator to members the author is not paired with); what comes in
 * checked, ordered per author (GroupOrder) and relayed on at the creator;
 * and what is readable handed to readers with cursors.
 *
 * Crash order of a send: the seq is taken and the signed envelope written
 * to groups.json as `outgoing`, with a message id chosen for each copy,
 * before any copy is queued; once all are in the outbox it is cleared. At
 * start (and at each sweep) what is still outgoing is queued again under
 * the same ids, to the members still in the group: receivers drop what
 * they took already by seq.
 *
 * A message the group's unread or byte limit has no room for is deferred:
 * it stays in this node's inbox, unacked, and the service stops taking
 * that sender's group messages (the inbox acks in order per sender) until
 * a reader acks. Meanwhile the inbox's own per-peer limits defer the
 * sender's further batches, which it retries.
 */
export class GroupDelivery implements GroupMessageHandler {
  private readonly order: GroupOrder;
  private readonly ids = new MessageIds();
  private readonly now: () => number;
  /** Checks of held envelopes under way, started by an applied epoch (the membership lock does not wait for them). */
  private readonly checks = new Set<Promise<void>>();
  /** Readers waiting for a message of a group. */
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(private readonly options: GroupDeliveryOptions) {
    this.now = options.now ?? Date.now;
    const { trust } = options;
    const peers: PeerFacts = {
      pinnedKey: (peer) => (trust.isTrusted(peer) ? (trust.currentKey(peer) ?? null) : null),
      isRevoked: (peer) => {
        const record = trust.get(peer);
        return record !== undefined && record.state !== 'trusted';
      },
    };
    this.order = new GroupOrder({ self: options.self.peerId, groups: options.store, log: options.log, peers, gapHoldMs: options.config.gapHoldMs, now: this.now });
  }

  /** At start, before the groups channel is drained: the order caught up with the log, then this node's unsent copies queued. */
  async start(): Promise<void> {
    this.announce(await this.order.resume());
    await this.resendAll();
  }

  /** Now and then: held messages past the gap hold released, revoked authors' held messages dropped, unsent copies queued again. */
  async sweep(): Promise<void> {
    this.announce(await this.order.releaseDue());
    const { log, trust } = this.options;
    const authors = new Set(log.groupIds().flatMap((group) => log.held(group).map((held) => held.author)));
    for (const author of authors) {
      const record = trust.get(author);
      if (record !== undefined && record.state !== 'trusted') await this.order.dropAuthor(author);
    }
    await this.resendAll();
  }

  counters(): Record<string, number> {
    return this.order.counters();
  }

  counts(group: string): { unread: number; held: number } {
    const { unread, held } = this.options.log.counts(group);
    return { unread, held };
  }

  // ---- GroupMessageHandler

  async take(sender: string, _message: StoredMessage, payload: GroupMessage): Promise<'taken' | 'deferred'> {
    const result = await this.order.receive(payload, sender);
    if (result.verdict === 'deferred') {
      this.options.logger.info(`group messages from ${sender} wait in the inbox: ${result.message}`);
      return 'deferred';
    }
    if (result.verdict === 'refused') {
      this.options.refuse(sender, `group_${result.refusal}`, result.chargeable);
      this.options.logger.debug(`a group message from ${sender} was refused: group_${result.refusal}`);
    }
    if (result.relayTo.length > 0) await this.relay(payload.envelope, result.relayTo);
    this.announce(result.delivered);
    return 'taken';
  }

  epochsApplied(group: StoredGroup): void {
    const check = this.order
      .epochApplied(group.id)
      .then((delivered) => this.announce(delivered))
      .catch((error: unknown) =>
        this.options.logger.error(`group messages of ${group.id} waiting for its epoch could not be checked: ${(error as Error).message}; they are at the next start`),
      )
      .finally(() => this.checks.delete(check));
    this.checks.add(check);
  }

  /** Resolves once the envelopes waiting for applied epochs are checked. */
  async whenIdle(): Promise<void> {
    while (this.checks.size > 0) await Promise.all([...this.checks]);
  }

  // ---- Sending

  /** Signs the message, records it as outgoing, then queues a copy per member (design §4.4 Send). */
  send(groupId: string, input: GroupSendInput): Promise<GroupSendResult> {
    return this.options.exclusive(async () => {
      const { store, self } = this.options;
      const group = store.get(groupId);
      if (group === undefined) throw new P2pError('NOT_FOUND', `this node holds no group ${groupId}`);
      if (group.state !== 'member') throw new P2pError('CONFLICT', `this node does not send to ${groupId}: it is ${stateWords(group)}`);
      const ttlSeconds = input.ttlSeconds ?? null;
      // Checked before the seq is taken: a copy the outbox refuses for it would stay outgoing for ever.
      if (ttlSeconds !== null && (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1)) throw new P2pError('INVALID_INPUT', `ttl_seconds is a whole number of seconds >= 1, not ${ttlSeconds}`);
      const current = group.statements[group.statements.length - 1] as EpochStatement;
      const plan = planCopies(current, self.peerId, (peer) => this.options.trust.isTrusted(peer));
      if (plan.unreachable.length > 0) {
        this.options.logger.warn(`a message to ${groupId} reaches no copy to ${plan.unreachable.join(', ')}: neither this node nor the creator it would go through is paired with them`);
      }
      const outgoing = store.beginSend(groupId, (taken) => {
        const envelope = signGroupEnvelope(
          { t: 'msg', group: groupId, epoch: taken.epoch, author: self.peerId, seq: taken.seq, prev_epoch: taken.prevEpoch, id: this.ids.take(), created_at: this.now(), type: input.type, content: input.content },
          self,
        );
        const bytes = Buffer.byteLength(canonicalJson(envelope), 'utf8');
        if (bytes > this.options.config.maxMessageBytes) {
          throw new P2pError('INVALID_INPUT', `the message is ${bytes} bytes as signed, more than the ${this.options.config.maxMessageBytes} a group message may take (P2P_COMM_GROUP_MAX_MESSAGE_BYTES): send it in parts`, {
            rule: 'max_bytes',
            bytes,
            limit: this.options.config.maxMessageBytes,
          });
        }
        return { envelope, copies: plan.copies.map((copy) => ({ ...copy, messageId: this.ids.take(), queued: false })) };
      });
      await this.queue(groupId, outgoing, outgoing.copies, ttlSeconds);
      const copies: GroupSendResult['copies'] = [];
      for (const copy of outgoing.copies) {
        copies.push({ peer: copy.peer, message_id: copy.messageId, via: 'direct' });
        for (const peer of copy.relay ?? []) copies.push({ peer, message_id: copy.messageId, via: 'creator' });
      }
      return { group: groupId, id: outgoing.envelope.id, seq: outgoing.envelope.seq, copies };
    });
  }

  /**
   * Queues copies of an outgoing message; records the ones queued. A copy
   * the outbox refuses (full) stays outgoing, queued again at the next
   * sweep; anything else is this node's trouble, thrown.
   */
  private async queue(groupId: string, outgoing: OutgoingSend, copies: OutgoingSend['copies'], ttlSeconds: number | null, dropPeers: string[] = []): Promise<void> {
    const { messenger, outbox, store, logger, trust } = this.options;
    const queued: string[] = [];
    const gone = [...dropPeers];
    try {
      for (const copy of copies) {
        if (copy.queued || outbox.get(copy.messageId) !== undefined) {
          queued.push(copy.messageId);
          continue;
        }
        // Revoked since: this copy can never go.
        if (!trust.isTrusted(copy.peer)) {
          gone.push(copy.peer);
          continue;
        }
        try {
          const content: GroupMessage = { envelope: outgoing.envelope, relay: copy.relay === null ? null : [...copy.relay] };
          await messenger.send({ peer: copy.peer, type: 'group_message', content, correlationId: null, ttlSeconds, messageId: copy.messageId });
          queued.push(copy.messageId);
        } catch (error) {
          if (!(error instanceof P2pError) || error.errorName !== 'LIMIT_REACHED') throw error;
          logger.warn(`the copy of message ${outgoing.envelope.id} of ${groupId} to ${copy.peer} waits: ${error.message}; it is queued again at the next sweep`);
        }
      }
    } finally {
      store.copiesQueued(groupId, outgoing.envelope.id, queued, gone);
    }
  }

  /** Outgoing messages of every group queued again: what a crash or a full outbox left (design §4.10). */
  private resendAll(): Promise<void> {
    return this.options.exclusive(async () => {
      const { store } = this.options;
      for (const group of store.list()) {
        for (const outgoing of group.outgoing) {
          const current = group.statements[group.statements.length - 1] as EpochStatement;
          // A member no longer in the group gets nothing new; a group this node is out of takes nothing.
          const toResend = group.state === 'member' ? copiesToResend({ envelope: outgoing.envelope, copies: outgoing.copies.map((copy) => ({ peer: copy.peer, relay: copy.relay === null ? null : [...copy.relay], messageId: copy.queued ? copy.messageId : null })) }, current) : [];
          const resend = toResend.map((planned) => ({ ...(outgoing.copies.find((copy) => copy.peer === planned.peer) as OutgoingSend['copies'][number]), relay: planned.relay }));
          const gone = outgoing.copies.filter((copy) => !copy.queued && !resend.some((kept) => kept.peer === copy.peer)).map((copy) => copy.peer);
          await this.queue(group.id, outgoing, resend, null, gone).catch((error: unknown) =>
            this.options.logger.error(`message ${outgoing.envelope.id} of ${group.id} could not be queued again: ${(error as Error).message}; tried again at the next sweep`),
          );
        }
      }
    });
  }

  /** At the creator: the envelope on to members the author is not paired with, to those still members now. */
  private relay(envelope: GroupEnvelope, targets: readonly string[]): Promise<void> {
    return this.options.exclusive(async () => {
      const group = this.options.store.get(envelope.group);
      const current = group?.statements[group.statements.length - 1];
      for (const peer of targets) {
        // A member since removed gets nothing new; one this node no longer trusts cannot be sent to.
        if (current === undefined || group?.state !== 'member' || !current.members.some((member) => member.peer === peer) || !this.options.trust.isTrusted(peer)) continue;
        await this.options.messenger.send({ peer, type: 'group_message', content: { envelope, relay: null } satisfies GroupMessage, correlationId: null, ttlSeconds: null });
      }
    });
  }

  /** Readers waiting for a message are answered now (with what there is). */
  close(): void {
    for (const waiters of this.waiting.values()) for (const wake of [...waiters]) wake();
  }

  // ---- Reading

  /** Readable messages after `after`, acking through `ackThrough` first; waits up to `waitMs` for one when none is there. */
  async read(groupId: string, input: GroupReceiveInput): Promise<{ messages: GroupReceivedMessage[]; next_after: number }> {
    const { store, log } = this.options;
    const group = store.get(groupId);
    if (group === undefined) throw new P2pError('NOT_FOUND', `this node holds no group ${groupId}`);
    const after = input.after ?? 0;
    const limit = input.limit ?? DEFAULT_GROUP_RECEIVE_LIMIT;
    const waitMs = input.waitMs ?? 0;
    checkWhole('after', after, Number.MAX_SAFE_INTEGER, 0);
    checkWhole('limit', limit, MAX_GROUP_RECEIVE_LIMIT, 1);
    checkWhole('wait_ms', waitMs, MAX_GROUP_RECEIVE_WAIT_MS, 0);
    if (input.ackThrough !== undefined) {
      if ((await log.ack(groupId, input.ackThrough)) > 0) this.options.roomMade();
    }
    const from = Math.max(after, log.counts(groupId).ackedThrough);
    // Checked and waited for in one step: a message made readable in between would otherwise be waited for in vain.
    if (waitMs > 0 && !log.readable(groupId).some((message) => (message.cursor as number) > from)) await this.waitFor(groupId, waitMs);
    const read = await log.read(groupId, after, limit);
    const messages = read.map((message) => ({
      cursor: message.cursor,
      id: message.id,
      author: message.author,
      author_name: nameOf(store.get(groupId) ?? group, message.author),
      seq: message.seq,
      epoch: message.envelope.epoch,
      type: message.envelope.type,
      content: message.envelope.content,
      created_at: new Date(message.envelope.created_at).toISOString(),
      received_at: new Date(message.receivedAt).toISOString(),
      gap: message.gap,
    }));
    const last = messages[messages.length - 1];
    return { messages, next_after: last === undefined ? after : last.cursor };
  }

  private waitFor(groupId: string, waitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.waiting.get(groupId) ?? new Set();
      this.waiting.set(groupId, waiters);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      waiters.add(done);
    });
  }

  /** `p2p.group.message` for each message made readable, and readers waiting for one woken. */
  private announce(delivered: readonly StoredGroupMessage[]): void {
    for (const message of delivered) {
      this.options.events.enqueue({ type: 'p2p.group.message', subject: message.group, data: { group: message.group, author: message.author, cursor: message.cursor } });
      for (const wake of [...(this.waiting.get(message.group) ?? [])]) wake();
    }
  }
}

/** What a reader sees of a group this node does not send to. */
function stateWords(group: StoredGroup): string {
  switch (group.state) {
    case 'invited':
      return 'invited, not a member yet: accept the invite first';
    case 'left':
      return group.reason === null ? 'a group this node left' : `a group this node left (${group.reason})`;
    case 'removed':
      return 'a group this node was removed from';
    case 'dissolved':
      return 'dissolved by its creator';
    default:
      return group.state;
  }
}

/** The author's name as the newest statement held listing it says. */
function nameOf(group: StoredGroup, author: string): string | null {
  for (const statement of [...group.statements].reverse()) {
    const member = statement.members.find((candidate) => candidate.peer === author);
    if (member !== undefined) return member.name;
  }
  return null;
}

function checkWhole(name: string, value: number, max: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new P2pError('INVALID_INPUT', `${name} is a whole number from ${min} to ${max}, not ${value}`);
}
