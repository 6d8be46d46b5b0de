import { decodeBase64urlExact, encodeBase64url } from '../common/base64url';
import { fingerprintOf } from '../common/peer-id';
import type { GroupsConfig } from '../config';
import { P2pError } from '../common/errors';
import { quoteUntrusted } from '../common/quote-text';
import type { Logger } from '../log';
import type { Messenger } from '../messaging/messenger';
import { decodeContent } from '../messaging/payload';
import type { InboxStore, StoredMessage } from '../store/inbox';
import type { OutgoingMessage } from '../store/outbox';
import type { TrustedPeerRecord, TrustState } from '../trust/trust-store';
import { decodeGroupMessage, type GroupControl, type GroupMessage } from '../wire/group-payload';
import {
  type EpochStatement,
  type GroupSigner,
  type JoinStatement,
  type LeaveStatement,
  signInviteStatement,
  signJoinStatement,
  signLeaveStatement,
} from '../wire/group-statement';
import {
  addEpoch,
  createEpoch,
  dissolveEpoch,
  headOf,
  isMemberOf,
  joinRefusal,
  keyEpoch,
  leaveEpoch,
  leaveRefusal,
  removeEpoch,
} from './group-membership';
import { ENDED_GROUP_STATES, type GroupStore, type StoredGroup } from './group-store';
import { GroupDelivery, type GroupReceiveInput, type GroupReceivedMessage, type GroupSendInput, type GroupSendResult } from './group-delivery';
import type { GroupMessageLog } from './group-messages';
import { ChannelDrain } from '../store/channel-drain';

/** The capability a node lists in its hello once it takes leaf types 8-9 (docs/protocol.md §9). */
export const GROUPS_CAPABILITY = 'groups-v1';

/** Why pending copies to a member fail when an epoch removes it (design §4.4). */
export const MEMBER_REMOVED_REASON = 'group_member_removed';

/** Statements sent beside an invite: the head and the one before it, so that the invitee can check the head's leaves. */
const INVITE_HISTORY = 2;

/**
 * Where group messages (type 9) go: the message path (group-delivery.ts),
 * which orders, holds, relays and records them. Called from the drain of
 * the `groups` channel, in inbox order per sender, before that message is
 * acked.
 */
export interface GroupMessageHandler {
  /**
   * A group_message from `sender` (a trusted peer), decoded. Resolve once
   * what must survive a crash is recorded: the service acks it then.
   * `deferred`: no room for it now; it and the sender's later group
   * messages stay in the inbox until a reader acks. A throw leaves them in
   * the inbox too, taken again at the next start.
   */
  take(sender: string, message: StoredMessage, payload: GroupMessage): Promise<'taken' | 'deferred'>;
  /** Statements this node just applied (groups.json written): envelopes held for those epochs can be checked now. */
  epochsApplied(group: StoredGroup, statements: readonly EpochStatement[]): void;
}

/** What the `groups` operation shows of one group. */
export interface GroupSummary {
  group: string;
  name: string;
  creator: string;
  state: string;
  epoch: number;
  members: { peer: string; name: string; fingerprint: string; paired: boolean; role: 'creator' | 'member' }[];
  unread: number;
  held: number;
  /** The last changes, oldest first. */
  changes: { epoch: number; op: string; peer?: string; at: string }[];
}

/** Changes a summary lists at most. */
const SUMMARY_CHANGES = 20;

export interface GroupServiceOptions {
  self: { peerId: string; publicKey: Uint8Array } & GroupSigner;
  /** This node's display name, as its entry in the groups it creates shows it. */
  displayName: () => string;
  store: GroupStore;
  inbox: Pick<InboxStore, 'on' | 'off' | 'read' | 'ack' | 'hasMessagesAfter'>;
  messenger: Pick<Messenger, 'send' | 'helloOf' | 'onSettled' | 'failPending'>;
  outbox: { pendingFor(peerId: string): OutgoingMessage[]; get(messageId: string): OutgoingMessage | undefined };
  trust: {
    list(): { peerId: string }[];
    get(peerId: string): TrustedPeerRecord | undefined;
    stateOf(peerId: string): TrustState | undefined;
    currentKey(peerId: string): Uint8Array | undefined;
    isTrusted(peerId: string): boolean;
  };
  events: { enqueue(event: { type: string; subject?: string; data: Record<string, unknown> }): void };
  refuse: (peerId: string, reason: string, charged: boolean) => void;
  logger: Logger;
  config: Pick<GroupsConfig, 'sweepMs'>;
  /** The message path's log (closed with the service) and limits; until they are given, group messages are refused (`group_message_unhandled`), counted, and acked. */
  messages?: { log: GroupMessageLog; config: Pick<GroupsConfig, 'maxMessageBytes' | 'gapHoldSeconds'> } | undefined;
  /** Inbox messages read per drain step. */
  inboxBatch?: number;
  now?: () => number;
}

type ControlOf<K extends GroupControl['kind']> = Extract<GroupControl, { kind: K }>;

/**
 * Group membership (design §4.4): creating a group, invites both ways,
 * joins and leaves, removal, dissolution, key epochs and the reaction to a
 * revoked creator. The creator sequences: every change is an epoch it
 * signs, applies, then sends durably to every member it concerns (and
 * records as sent, so that a crash in between sends it again at start).
 * Reads the `groups` inbox channel of each peer like the A2A and file
 * services, and acks each message once taken; group messages go to the
 * message path (GroupMessageHandler).
 *
 * Changes run one at a time (`exclusive`), so that two of them never sign
 * two statements of one epoch.
 */
export class GroupService {
  private readonly drain = new ChannelDrain(
    (peerId) => this.drainAll(peerId),
    (peerId, error) => this.options.logger.error(`group messages from ${peerId} could not be taken: ${error.message}; they stay in the inbox and are taken at the next start`),
  );
  private serial: Promise<unknown> = Promise.resolve();
  /** Invites in the outbox, by message id: a peer refusing type 8 (`malformed`) does not take groups. */
  private readonly invitesSent = new Map<string, { group: string; peer: string }>();
  private sweepTimer: NodeJS.Timeout | null = null;
  /** A sweep waiting for its turn: a revocation settles every pending message, each asking for one. */
  private queuedSweep: Promise<void> | null = null;
  private closed = false;
  private readonly now: () => number;
  private readonly delivery: GroupDelivery | null;
  /** The message path's start (order caught up, unsent copies queued): the channel is drained after it. */
  private ready: Promise<void> = Promise.resolve();
  /** Senders whose group messages wait in the inbox for room in a group (P2P_COMM_GROUP_MAX_UNREAD). */
  private readonly deferred = new Set<string>();
  private readonly onStored = (message: StoredMessage): void => {
    if (message.type === 'group_control' || message.type === 'group_message') this.drain.schedule(message.peerId);
  };

  constructor(private readonly options: GroupServiceOptions) {
    this.now = options.now ?? Date.now;
    const { messages } = options;
    this.delivery =
      messages === undefined
        ? null
        : new GroupDelivery({
            self: options.self,
            store: options.store,
            log: messages.log,
            messenger: options.messenger,
            outbox: options.outbox,
            trust: options.trust,
            events: options.events,
            refuse: options.refuse,
            logger: options.logger,
            config: { maxMessageBytes: messages.config.maxMessageBytes, gapHoldMs: messages.config.gapHoldSeconds * 1000 },
            exclusive: (work) => this.exclusive(work),
            roomMade: () => this.takeDeferred(),
            now: this.now,
          });
    options.messenger.onSettled((_peerId, messageId, state, reason) => {
      const invite = this.invitesSent.get(messageId);
      if (invite !== undefined) {
        this.invitesSent.delete(messageId);
        if (state === 'failed' && reason === 'malformed') this.inviteUnsupported(invite.group, invite.peer);
      }
      // A revoked creator ends this node's groups; the sweep finds them.
      if (reason === 'revoked' || reason === 'revoked_by_peer') void this.sweep();
    });
  }

  get store(): GroupStore {
    return this.options.store;
  }

  start(): void {
    const { inbox, trust, config } = this.options;
    this.ready = (this.delivery?.start() ?? Promise.resolve()).catch((error: unknown) =>
      this.options.logger.error(`the group message path could not start cleanly: ${(error as Error).message}; it tries again at the next sweep`),
    );
    inbox.on('stored', this.onStored);
    for (const { peerId } of trust.list()) if (inbox.hasMessagesAfter(peerId, 0, 'groups')) this.drain.schedule(peerId);
    void this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), config.sweepMs);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.options.inbox.off('stored', this.onStored);
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.delivery?.close();
    await this.drain.close();
    await this.whenIdle();
    await this.options.messages?.log.close();
  }

  /** Resolves once no drain, no change and no check of held group messages runs. */
  async whenIdle(): Promise<void> {
    await this.ready;
    await this.drain.whenIdle();
    await this.serial.catch(() => undefined);
    await this.delivery?.whenIdle();
  }

  // ---- What this node's user does.

  create(name: string): Promise<StoredGroup> {
    return this.exclusive(async () => {
      const { self, store } = this.options;
      const member = { peer: self.peerId, key: encodeBase64url(self.publicKey), name: this.options.displayName() };
      return store.create(createEpoch(member, name, self, this.now()), self.publicKey);
    });
  }

  /** The creator invites a trusted peer that takes groups; the peer sees the members' names and keys. */
  invite(groupId: string, peer: string): Promise<{ group: string; peer: string; state: 'invited' }> {
    return this.exclusive(async () => {
      const { self, store, trust, messenger } = this.options;
      const group = this.createdHere(groupId);
      if (peer === self.peerId) throw new P2pError('INVALID_INPUT', 'the creator is in its group already');
      if (!trust.isTrusted(peer)) throw new P2pError('NOT_FOUND', `${quoteUntrusted(peer)} is not a trusted peer: pair with it first`);
      const hello = messenger.helloOf(peer);
      // Without a hello yet, the invite goes: a peer without groups refuses it (`malformed`), which closes the invite.
      if (hello !== undefined && !hello.capabilities.includes(GROUPS_CAPABILITY)) {
        throw new P2pError('NOT_AVAILABLE', `peer_unsupported: ${peer} does not take groups (its hello lacks ${GROUPS_CAPABILITY}); it needs a newer p2p-comm`);
      }
      const head = headOf(group);
      if (isMemberOf(head, peer)) throw new P2pError('CONFLICT', `${peer} is a member of ${groupId} already`);
      store.checkRoomForMember(groupId);
      const invite = signInviteStatement({ t: 'invite', group: groupId, invitee: peer, epoch: head.epoch, at: this.now() }, self);
      store.openInvite(groupId, peer, head.epoch);
      const epochs = group.statements.slice(-INVITE_HISTORY);
      const { messageId } = await this.sendControl(peer, { kind: 'invite', invite, epochs: [...epochs] });
      this.invitesSent.set(messageId, { group: groupId, peer });
      return { group: groupId, peer, state: 'invited' };
    });
  }

  /** The invitee signs its join and sends it to the creator; it is a member once the creator's epoch that adds it arrives. */
  accept(groupId: string): Promise<{ group: string; state: 'joining' }> {
    return this.exclusive(async () => {
      const { self, store, trust } = this.options;
      const group = this.held(groupId);
      if (group.state !== 'invited' || group.invite === null) throw new P2pError('CONFLICT', `this node holds no invite to ${groupId} (it is ${group.state})`);
      if (!trust.isTrusted(group.creator)) throw new P2pError('CONFLICT', `the creator of ${groupId}, ${group.creator}, is no longer a trusted peer`);
      // Accepting again sends the same join: the creator takes one.
      const join = group.join ?? signJoinStatement({ t: 'join', group: groupId, peer: self.peerId, epoch_seen: group.invite.epoch, at: this.now() }, self);
      if (group.join === null) store.recordJoin(groupId, join);
      await this.sendControl(group.creator, { kind: 'join', join });
      return { group: groupId, state: 'joining' };
    });
  }

  /** Leaves a group (the creator dissolves it), or declines an invite. This node takes and sends nothing more for it at once. */
  leave(groupId: string): Promise<{ group: string; state: string }> {
    return this.exclusive(async () => {
      const { self, store, trust } = this.options;
      const group = this.held(groupId);
      if (ENDED_GROUP_STATES.includes(group.state)) return { group: groupId, state: group.state };
      if (group.creator === self.peerId) {
        await this.issue(group, dissolveEpoch(headOf(group), self, this.now()));
        return { group: groupId, state: 'dissolved' };
      }
      if (group.state === 'invited') {
        store.leave(groupId, 'declined');
        this.left(groupId, 'declined');
        return { group: groupId, state: 'left' };
      }
      const leave = signLeaveStatement({ t: 'leave', group: groupId, peer: self.peerId, at: this.now() }, self);
      store.leave(groupId, 'left');
      this.left(groupId, 'left');
      if (trust.isTrusted(group.creator)) {
        await this.sendControl(group.creator, { kind: 'leave', leave }).catch((error: unknown) =>
          this.options.logger.warn(`the leave from ${groupId} could not be sent to its creator: ${(error as Error).message}; this node has left it all the same`),
        );
      }
      return { group: groupId, state: 'left' };
    });
  }

  /** The creator removes a member: the next epoch says so, to the members and to the removed one. */
  remove(groupId: string, peer: string): Promise<{ group: string; epoch: number }> {
    return this.exclusive(async () => {
      const { self } = this.options;
      const group = this.createdHere(groupId);
      if (peer === self.peerId) throw new P2pError('INVALID_INPUT', 'the creator leaves its group with group_leave, which dissolves it');
      if (!isMemberOf(headOf(group), peer)) throw new P2pError('NOT_FOUND', `${quoteUntrusted(peer)} is not a member of ${groupId}`);
      const statement = removeEpoch(headOf(group), peer, self, this.now());
      await this.issue(group, statement);
      return { group: groupId, epoch: statement.epoch };
    });
  }

  /**
   * What changes without a message: a creator no longer trusted ends this
   * node's membership (`creator_revoked`); as creator, a member whose key
   * this node now knows to be new gets a `key` epoch; epochs not all sent
   * (a crash, a full outbox) are sent again.
   */
  sweep(): Promise<void> {
    this.queuedSweep ??= this.exclusive(async () => {
      this.queuedSweep = null;
      const { self, store, trust } = this.options;
      for (const group of store.list()) {
        if (ENDED_GROUP_STATES.includes(group.state)) continue;
        if (group.creator !== self.peerId) {
          if (!trust.isTrusted(group.creator)) {
            store.leave(group.id, 'creator_revoked');
            this.left(group.id, 'creator_revoked');
          }
          continue;
        }
        const rekeyed = this.newMemberKeys(headOf(group));
        if (rekeyed.size > 0) await this.issue(group, keyEpoch(headOf(group), rekeyed, self, this.now()));
        else if (group.sentEpoch < headOf(group).epoch) await this.announce(group.id);
      }
    })
      // Outside the lock: the message path takes it for each copy it queues.
      .then(() => (this.closed ? undefined : this.delivery?.sweep()))
      .catch((error: unknown) => this.options.logger.error(`the group sweep failed: ${(error as Error).message}; it runs again in ${this.options.config.sweepMs} ms`));
    return this.queuedSweep;
  }

  /** This node's message to a group: signed, recorded, then a copy queued per member (design §4.4 Send). */
  send(groupId: string, input: GroupSendInput): Promise<GroupSendResult> {
    return this.messagePath().send(groupId, input);
  }

  /** The group's readable messages in cursor order, acking through `ackThrough` first, waiting up to `waitMs` for one. */
  receive(groupId: string, input: GroupReceiveInput = {}): Promise<{ messages: GroupReceivedMessage[]; next_after: number }> {
    return this.messagePath().read(groupId, input);
  }

  /** Every group this node holds, as the `groups` operation shows them. */
  list(): GroupSummary[] {
    const { self, trust } = this.options;
    return this.options.store.list().map((group) => {
      const head = headOf(group);
      const counts = this.delivery?.counts(group.id) ?? { unread: 0, held: 0 };
      const changes = group.statements.flatMap((statement) =>
        statement.changes.map((change) => ({
          epoch: statement.epoch,
          op: change.op,
          ...(change.op === 'dissolve' ? {} : { peer: change.peer }),
          at: new Date(statement.at).toISOString(),
        })),
      );
      return {
        group: group.id,
        name: group.name,
        creator: group.creator,
        state: group.state,
        epoch: head.epoch,
        members: head.members.map((member) => ({
          peer: member.peer,
          name: member.name,
          fingerprint: fingerprintOf(decodeBase64urlExact(member.key, 32) as Uint8Array),
          paired: member.peer !== self.peerId && trust.isTrusted(member.peer),
          role: member.peer === group.creator ? ('creator' as const) : ('member' as const),
        })),
        unread: counts.unread,
        held: counts.held,
        changes: changes.slice(-SUMMARY_CHANGES),
      };
    });
  }

  /** What the message path counted since start (`group_duplicate`, `group_gap_released`, each refusal…). */
  messageCounters(): Record<string, number> {
    return this.delivery?.counters() ?? {};
  }

  private messagePath(): GroupDelivery {
    if (this.delivery === null) throw new P2pError('NOT_AVAILABLE', 'this node has no group message path');
    return this.delivery;
  }

  /** A reader acked: senders whose group messages waited for room are taken again. */
  private takeDeferred(): void {
    const peers = [...this.deferred];
    this.deferred.clear();
    for (const peer of peers) this.drain.schedule(peer);
  }

  // ---- The groups channel.

  private async drainAll(peerId: string): Promise<void> {
    const { inbox } = this.options;
    await this.ready;
    const limit = this.options.inboxBatch ?? 64;
    for (let batch = await inbox.read(peerId, 0, limit, 'groups'); batch.length > 0 && !this.closed; batch = await inbox.read(peerId, 0, limit, 'groups')) {
      for (const message of batch) {
        if ((await this.take(message)) === 'deferred') {
          this.deferred.add(peerId);
          return;
        }
        await inbox.ack(peerId, message.cursor, 'groups');
      }
    }
  }

  private async take(message: StoredMessage): Promise<'taken' | 'deferred' | void> {
    const { peerId } = message;
    // Stored before a revocation: what the user stopped trusting is dropped, not taken (and not kept in the inbox).
    if (!this.options.trust.isTrusted(peerId)) return this.drop(peerId, 'sender_not_trusted', false);
    const decoded = decodeContent(message.type, message.content);
    // Checked when it arrived: only a changed format makes this happen.
    if (decoded === null) return this.drop(peerId, 'bad_payload', false);
    if (message.type === 'group_message') {
      const handler = this.delivery;
      if (handler === null) {
        this.options.logger.warn(`a group message from ${peerId} is refused: this node does not take group messages yet (counted as group_message_unhandled)`);
        return this.drop(peerId, 'message_unhandled', false);
      }
      return handler.take(peerId, message, decoded.value as GroupMessage);
    }
    const control = decoded.value as GroupControl;
    await this.exclusive(async () => {
      try {
        switch (control.kind) {
          case 'invite':
            return this.takeInvite(peerId, control);
          case 'epochs':
            return await this.takeEpochs(peerId, control);
          case 'join':
            return await this.takeJoin(peerId, control.join);
          case 'leave':
            return await this.takeLeave(peerId, control.leave);
        }
      } catch (error) {
        // A refusal of the store (a limit, a conflict) is about this message; anything else (the disk) leaves it in the inbox.
        if (!(error instanceof P2pError) || error.errorName === 'INTERNAL_ERROR') throw error;
        this.drop(peerId, `${control.kind}_refused`, error.errorName === 'INVALID_INPUT', error.message);
      }
    });
  }

  private takeInvite(sender: string, control: ControlOf<'invite'>): void {
    const { store, events } = this.options;
    const head = control.epochs[control.epochs.length - 1] as EpochStatement;
    // Only a creator invites to its group, with its own key.
    if (head.creator !== sender) return this.drop(sender, 'invite_not_creator');
    const before = store.get(head.group);
    const group = store.addInvite(control.invite, control.epochs, this.pinned(sender).publicKey);
    if (group.state === 'invited' && before?.state !== 'invited') {
      events.enqueue({ type: 'p2p.group.invited', subject: group.id, data: { group: group.id, name: group.name, creator: group.creator } });
    }
  }

  private async takeEpochs(sender: string, control: ControlOf<'epochs'>): Promise<void> {
    const { store, trust } = this.options;
    const groupId = (control.epochs[0] as EpochStatement).group;
    const group = store.get(groupId);
    if (group === undefined) return this.drop(sender, 'epoch_unknown_group', false);
    if (group.creator !== sender) return this.drop(sender, 'epoch_not_creator');
    let before = group;
    for (const statement of control.epochs) {
      const unknownKey = this.unpinnedMemberKey(statement);
      if (unknownKey !== undefined) return this.drop(sender, 'epoch_member_key', true, `epoch ${statement.epoch} lists ${unknownKey} with a key it never presented to this node`);
      const outcome = store.recordEpoch(groupId, statement, trust.currentKey(sender));
      if (outcome.outcome === 'refused') return this.drop(sender, 'epoch_refused', true, `epoch ${statement.epoch}: ${outcome.message}`);
      if (outcome.outcome !== 'applied') continue;
      await this.applied(before, outcome.group, outcome.applied);
      before = outcome.group;
    }
  }

  private async takeJoin(sender: string, join: JoinStatement): Promise<void> {
    const { self, store } = this.options;
    const group = store.get(join.group);
    if (group === undefined || group.creator !== self.peerId || group.state !== 'member') return this.drop(sender, 'join_unknown_group');
    const refusal = joinRefusal(group, join, sender, this.pinned(sender).publicKey);
    // The same join again (a retransmission the creator took already) is no one's fault.
    if (refusal === 'join_already_member') return this.drop(sender, refusal, false);
    if (refusal !== null) return this.drop(sender, refusal);
    store.checkRoomForMember(group.id);
    const record = this.pinned(sender);
    const member = { peer: sender, key: encodeBase64url(record.publicKey), name: record.displayName };
    await this.issue(group, addEpoch(headOf(group), member, join, self, this.now()));
    store.closeInvite(group.id, sender);
  }

  private async takeLeave(sender: string, leave: LeaveStatement): Promise<void> {
    const { self, store } = this.options;
    const group = store.get(leave.group);
    if (group === undefined || group.creator !== self.peerId || group.state !== 'member') return this.drop(sender, 'leave_unknown_group');
    const refusal = leaveRefusal(group, leave, sender, this.pinned(sender).publicKey);
    if (refusal === 'leave_not_member') return this.drop(sender, refusal, false);
    if (refusal !== null) return this.drop(sender, refusal);
    await this.issue(group, leaveEpoch(headOf(group), leave, self, this.now()));
  }

  // ---- Epochs.

  /** The creator applies its statement, then sends it to those it concerns. */
  private async issue(group: StoredGroup, statement: EpochStatement): Promise<void> {
    const outcome = this.options.store.recordEpoch(group.id, statement, this.options.self.publicKey);
    if (outcome.outcome !== 'applied') throw new P2pError('INTERNAL_ERROR', `this node's own epoch ${statement.epoch} of ${group.id} was not applied (${outcome.outcome})`);
    await this.applied(group, outcome.group, outcome.applied);
    await this.announce(group.id);
  }

  /**
   * Sends each epoch after the last one sent to its members and to the
   * peers it removes; recorded as sent once every copy is in the outbox.
   * A copy that cannot be added (a full outbox) leaves it unsent: the
   * sweep sends it again, and receivers take a known epoch as known.
   */
  private async announce(groupId: string): Promise<void> {
    const { self, store, trust } = this.options;
    const group = store.get(groupId) as StoredGroup;
    for (const statement of group.statements.filter((candidate) => candidate.epoch > group.sentEpoch)) {
      const previous = group.statements.find((candidate) => candidate.epoch === statement.epoch - 1);
      const recipients = recipientsOf(statement, previous).filter((peer) => peer !== self.peerId && trust.isTrusted(peer));
      let all = true;
      for (const peer of recipients) {
        await this.sendControl(peer, { kind: 'epochs', epochs: [statement] }).catch((error: unknown) => {
          all = false;
          this.options.logger.warn(`epoch ${statement.epoch} of ${groupId} could not be queued for ${peer}: ${(error as Error).message}; sent again at the next sweep`);
        });
      }
      if (!all) return;
      store.markSent(groupId, statement.epoch);
    }
  }

  /** What applied statements mean here: events, failed copies to removed members, this node's own end, the message path told. */
  private async applied(before: StoredGroup, after: StoredGroup, statements: readonly EpochStatement[]): Promise<void> {
    const { events, self } = this.options;
    for (const statement of statements) {
      const changes = statement.changes.map((change) => (change.op === 'dissolve' ? { op: change.op } : { op: change.op, peer: change.peer }));
      events.enqueue({ type: 'p2p.group.changed', subject: after.id, data: { group: after.id, epoch: statement.epoch, changes } });
      for (const change of statement.changes) if (change.op === 'remove' && change.peer !== self.peerId) await this.failCopies(after.id, change.peer);
    }
    if (before.state !== after.state && (after.state === 'removed' || after.state === 'dissolved')) this.left(after.id, after.state);
    this.delivery?.epochsApplied(after);
  }

  /** Group messages of this group still pending to a removed member fail now: it takes nothing new. */
  private async failCopies(groupId: string, peer: string): Promise<void> {
    const ids = this.options.outbox
      .pendingFor(peer)
      .filter((message) => message.type === 'group_message' && groupOfCopy(message.content) === groupId)
      .map((message) => message.messageId);
    if (ids.length > 0) await this.options.messenger.failPending(peer, ids, MEMBER_REMOVED_REASON);
  }

  /** Members (other than this node) this node is paired with whose current key is not the one the statement lists. */
  private newMemberKeys(head: EpochStatement): Map<string, Uint8Array> {
    const { self, trust } = this.options;
    const rekeyed = new Map<string, Uint8Array>();
    for (const member of head.members) {
      if (member.peer === self.peerId || !trust.isTrusted(member.peer)) continue;
      const key = trust.currentKey(member.peer);
      if (key !== undefined && encodeBase64url(key) !== member.key) rekeyed.set(member.peer, key);
    }
    return rekeyed;
  }

  /**
   * A member this node is paired with, listed with a key that peer never
   * presented here (none of its pinned keys, current or retired): the
   * creator's word is taken only for members this node cannot check.
   */
  private unpinnedMemberKey(statement: EpochStatement): string | undefined {
    const { self, trust } = this.options;
    return statement.members.find((member) => {
      if (member.peer === self.peerId) return false;
      const record = trust.get(member.peer);
      if (record === undefined) return false;
      return !record.keyHistory.some((pinned) => encodeBase64url(pinned.publicKey) === member.key) && encodeBase64url(record.publicKey) !== member.key;
    })?.peer;
  }

  // ---- Helpers.

  /** The trust record of a peer whose message is being taken: the drain takes only trusted peers' messages. */
  private pinned(peer: string): TrustedPeerRecord {
    const record = this.options.trust.get(peer);
    if (record === undefined) throw new P2pError('INTERNAL_ERROR', `no trust record for ${peer}, whose message is being taken`);
    return record;
  }

  private held(groupId: string): StoredGroup {
    const group = this.options.store.get(groupId);
    if (group === undefined) throw new P2pError('NOT_FOUND', `this node holds no group ${quoteUntrusted(groupId)}`);
    return group;
  }

  private createdHere(groupId: string): StoredGroup {
    const group = this.held(groupId);
    if (group.creator !== this.options.self.peerId) throw new P2pError('CONFLICT', `only the creator of ${groupId}, ${group.creator}, changes its members`);
    if (group.state !== 'member') throw new P2pError('CONFLICT', `group ${groupId} is ${group.state}`);
    return group;
  }

  private sendControl(peer: string, control: GroupControl): Promise<{ messageId: string }> {
    return this.options.messenger.send({ peer, type: 'group_control', content: control, correlationId: null, ttlSeconds: null });
  }

  private inviteUnsupported(groupId: string, peer: string): void {
    this.options.logger.warn(`the invite of ${peer} to ${groupId} failed: peer_unsupported (it does not take groups)`);
    void this.exclusive(async () => {
      if (this.options.store.get(groupId) !== undefined) this.options.store.closeInvite(groupId, peer);
    }).catch((error: unknown) => this.options.logger.error(`could not close the invite of ${peer} to ${groupId}: ${(error as Error).message}`));
  }

  private left(groupId: string, reason: string): void {
    this.options.events.enqueue({ type: 'p2p.group.left', subject: groupId, data: { group: groupId, reason } });
  }

  /** Counted as `group_<reason>`; charged, like any refused input, when an honest peer never sends it. */
  private drop(peerId: string, reason: string, charged = true, detail?: string): void {
    this.options.refuse(peerId, `group_${reason}`, charged);
    this.options.logger.debug(`a group message from ${peerId} was dropped: group_${reason}${detail === undefined ? '' : ` (${detail})`}`);
  }

  /** One change at a time, in call order; a failed one does not stop those after it. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.serial.then(work, work);
    this.serial = run.catch(() => undefined);
    return run;
  }
}

/**
 * Who an epoch goes to: its members, the peers it removes (so that they
 * know), and, for a dissolution (which lists none), the members before it.
 */
function recipientsOf(statement: EpochStatement, previous: EpochStatement | undefined): string[] {
  const dissolved = statement.changes.some((change) => change.op === 'dissolve');
  const removed = statement.changes.flatMap((change) => (change.op === 'remove' ? [change.peer] : []));
  const listed = dissolved ? (previous?.members ?? []) : statement.members;
  return [...listed.map((member) => member.peer), ...removed];
}

/** The group of a pending group_message copy, or null when its content is gone or not one. */
function groupOfCopy(content: Uint8Array): string | null {
  try {
    return decodeGroupMessage(content).envelope.group;
  } catch {
    return null;
  }
}
