import { P2pError } from '../common/errors';
import type { GroupEnvelope, GroupMessage } from '../wire/group-payload';
import { type GroupMessageLog, type StoredGroupMessage, storedJson } from './group-messages';
import { CHARGEABLE_REFUSALS, checkEnvelope, type EnvelopeRefusal, type PeerFacts, relayTargets, senderRefusal } from './group-routing';
import type { GroupStore } from './group-store';

/**
 * Per-author order of the group messages this node takes in (design §4.4
 * "Receive"). Each author numbers its messages to a group from 1 (`seq`);
 * a message becomes readable when the one before it from the same author
 * is, so readers see every author's messages in the order written:
 *
 *  - deliverable: `seq = last + 1`, or no `last` and `prev_epoch <
 *    joined_epoch` (the author's previous message went to an epoch this
 *    node was not in: it will never come);
 *  - a seq already taken in is a duplicate (an inbox replay, a relay sent
 *    again, a direct and a relayed copy); the same seq under another id is
 *    `seq_reused`, charged to the pairwise sender;
 *  - otherwise held until its predecessor comes (then the chain is
 *    released in seq order), or until the author's oldest held message has
 *    waited `gapHoldMs` (the outbox TTL: past it the predecessor can no
 *    longer come): then released with `gap: true`;
 *  - an envelope of an epoch after the current one is held unchecked
 *    until that epoch's statement is applied (`epochApplied`);
 *  - at most `MAX_UNCHECKED_PER_AUTHOR` unchecked envelopes per author and
 *    group: one more is refused `unchecked_full`, not charged (a member
 *    may honestly run ahead of a statement still on its way);
 *  - at most the log's `maxHeldPerGroup` held messages and
 *    `maxHeldBytesPerGroup` held bytes per group: one more makes room by
 *    dropping the oldest unchecked envelope first (counted
 *    `group_held_overflow_dropped`: it could not be checked, and may be
 *    junk nobody signed), else by releasing the oldest waiting author's
 *    lowest message with `gap: true` (counted `group_held_overflow`;
 *    nothing is lost, order gives way). A held set that refused instead
 *    would fill the group for the whole gap hold and stall the pairwise
 *    sender's inbox, where the missing predecessor may itself be queued.
 *
 * State is group_messages.log (held and readable messages, a DELIVERED
 * record per release) and groups.json's `last_seq`. Crash order: the log
 * first (STORED, or DELIVERED), then `last_seq`, and the caller acks its
 * inbox only after `receive` returns. A crash between two writes leaves a
 * readable message beyond `last_seq`: the inbox replays the message and
 * `receive` finds it kept (same id) and moves `last_seq` on; `resume`
 * does the same at start for a release whose trigger was acked already.
 * No write is undone, so a replay is idempotent by seq.
 *
 * Which epochs a held envelope still waits for is kept in memory; at
 * start `resume` checks every held envelope again against the statements
 * then held, which also covers a crash between applying a statement and
 * checking what waited for it.
 */
export interface GroupOrderOptions {
  /** This node's peer id. */
  self: string;
  groups: GroupStore;
  /** Its `maxHeldPerGroup` is the held bound (P2P_COMM_GROUP_MAX_HELD). */
  log: GroupMessageLog;
  peers: PeerFacts;
  /** How long an author's held messages wait for a missing one (P2P_COMM_GROUP_GAP_HOLD_SECONDS × 1000). */
  gapHoldMs: number;
  /** The clock the log stamps `receivedAt` with. */
  now?: () => number;
}

/**
 * Unchecked envelopes one author may have held in a group. An honest
 * member runs ahead of a statement by the few messages it sends while the
 * statement travels; more is a flood nothing has checked yet.
 */
export const MAX_UNCHECKED_PER_AUTHOR = 32;

/** Refusals of the receive side itself, beside those of checking. */
export type HoldRefusal = 'unchecked_full';

export type ReceiveVerdict =
  | { verdict: 'delivered' }
  | { verdict: 'held'; waitingFor: 'predecessor' | 'epoch' }
  | { verdict: 'duplicate' }
  /** Ack it all the same: it will never be taken. `chargeable`: the pairwise sender answers for it. */
  | { verdict: 'refused'; refusal: EnvelopeRefusal | HoldRefusal; chargeable: boolean }
  /** A limit of the log (unread, bytes): leave it in the inbox, take it again later. */
  | { verdict: 'deferred'; message: string };

export type ReceiveResult = ReceiveVerdict & {
  /** Messages this call made readable, in cursor order: the envelope and held ones it released. */
  delivered: StoredGroupMessage[];
  /** At the creator: the members to send the envelope on to (type 9 without `relay`), before the inbox ack. */
  relayTo: string[];
};

/** A verdict and what it made readable, before relay targets are added. */
type Ordered = ReceiveVerdict & { delivered: StoredGroupMessage[] };

/** What the receive side counts besides each refusal (`group_<refusal>`). */
export type GroupOrderCounter =
  | `group_${EnvelopeRefusal | HoldRefusal}`
  | 'group_duplicate'
  | 'group_gap_released'
  | 'group_held_overflow'
  | 'group_held_overflow_dropped'
  | 'group_epoch_timeout';

export class GroupOrder {
  private readonly self: string;
  private readonly groups: GroupStore;
  private readonly log: GroupMessageLog;
  private readonly peers: PeerFacts;
  private readonly gapHoldMs: number;
  private readonly now: () => number;
  /** Held envelopes not checked yet (their epoch's statement had not come), by group. */
  private readonly unchecked = new Map<string, Set<number>>();
  private readonly counts = new Map<GroupOrderCounter, number>();
  /** One change at a time: each decides on what the one before left. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: GroupOrderOptions) {
    if (!Number.isSafeInteger(options.gapHoldMs) || options.gapHoldMs < 0) throw new RangeError(`gapHoldMs is a whole number of ms >= 0, not ${options.gapHoldMs}`);
    this.self = options.self;
    this.groups = options.groups;
    this.log = options.log;
    this.peers = options.peers;
    this.gapHoldMs = options.gapHoldMs;
    this.now = options.now ?? Date.now;
  }

  /** Counters since start, those at 0 left out. */
  counters(): Partial<Record<GroupOrderCounter, number>> {
    return Object.fromEntries(this.counts);
  }

  /** Held envelopes waiting for the statement of their epoch, per group. */
  uncheckedCount(group: string): number {
    return this.unchecked.get(group)?.size ?? 0;
  }

  /**
   * A type-9 payload from the pairwise `sender`, before its inbox ack:
   * checked, recorded and ordered. The caller sends `relayTo` copies, then
   * acks, unless the verdict is `deferred`.
   */
  receive(message: GroupMessage, sender: string): Promise<ReceiveResult> {
    return this.serially(() => this.take(message, sender));
  }

  /** After a statement was applied to a group: the envelopes that waited for it are checked and ordered. */
  epochApplied(group: string): Promise<StoredGroupMessage[]> {
    return this.serially(() => this.checkUnchecked(group));
  }

  /** Releases, with `gap: true`, what waited longer than the gap hold; drops unchecked envelopes as old. Call it now and then. */
  releaseDue(): Promise<StoredGroupMessage[]> {
    return this.serially(async () => {
      const delivered: StoredGroupMessage[] = [];
      for (const group of this.log.groupIds()) delivered.push(...(await this.releaseDueIn(group)));
      return delivered;
    });
  }

  /** At start, before the inbox is drained: `last_seq` caught up with the log, every held envelope checked again, what can go released. */
  resume(): Promise<StoredGroupMessage[]> {
    return this.serially(async () => {
      const delivered: StoredGroupMessage[] = [];
      for (const group of this.log.groupIds()) {
        for (const readable of this.log.readable(group)) this.recordSeen(group, readable.author, readable.seq);
        this.unchecked.set(group, new Set(this.log.held(group).map((held) => held.slot)));
        delivered.push(...(await this.checkUnchecked(group)), ...(await this.releaseDueIn(group)));
      }
      return delivered;
    });
  }

  /** The user revoked `peer`: its held messages go, in every group (counted `group_author_revoked`). */
  dropAuthor(peer: string): Promise<number> {
    return this.serially(async () => {
      let dropped = 0;
      for (const group of this.log.groupIds()) {
        for (const held of this.log.held(group).filter((candidate) => candidate.author === peer)) {
          await this.drop(held, 'group_author_revoked');
          dropped += 1;
        }
      }
      return dropped;
    });
  }

  private async take(message: GroupMessage, sender: string): Promise<ReceiveResult> {
    const { envelope, relay } = message;
    const group = this.groups.get(envelope.group);
    const check = checkEnvelope(envelope, group, this.self, this.peers);
    if (check.check === 'refused') return this.refused(check.refusal);
    const refusal = senderRefusal(envelope, relay, sender, group as NonNullable<typeof group>, this.self);
    if (refusal !== null) return this.refused(refusal);
    const relayTo = check.check === 'taken' && relay !== null ? relayTargets(relay, envelope, group as NonNullable<typeof group>, this.self) : [];
    try {
      const result = check.check === 'later' ? await this.holdUnchecked(envelope) : await this.order(envelope);
      return { ...result, relayTo };
    } catch (error) {
      if (error instanceof P2pError && error.errorName === 'LIMIT_REACHED') return { verdict: 'deferred', message: error.message, delivered: [], relayTo };
      if (error instanceof P2pError && error.errorName === 'CONFLICT' && error.message.startsWith('seq_reused:')) return { ...this.refused('seq_reused'), relayTo: [] };
      throw error;
    }
  }

  private refused(refusal: EnvelopeRefusal | HoldRefusal): ReceiveResult {
    this.count(`group_${refusal}`);
    const chargeable = refusal !== 'unchecked_full' && CHARGEABLE_REFUSALS.has(refusal);
    return { verdict: 'refused', refusal, chargeable, delivered: [], relayTo: [] };
  }

  /** A checked envelope: a duplicate, readable now, or held for its predecessor. */
  private async order(envelope: GroupEnvelope): Promise<Ordered> {
    const { group, author, seq } = envelope;
    const delivered: StoredGroupMessage[] = [];
    const bytes = storedJson(envelope).length;
    for (;;) {
      const known = this.log.find(group, author, seq);
      if (known !== undefined) return { ...(await this.replayed(envelope, known)), delivered: [...delivered, ...(await this.release(group, author))] };
      const last = this.lastSeq(group, author);
      if (last !== null && seq <= last) {
        this.count('group_duplicate');
        return { verdict: 'duplicate', delivered };
      }
      if (this.deliverable(envelope, last)) {
        const stored = await this.log.store(envelope, { held: false });
        return { verdict: 'delivered', delivered: [...delivered, stored, ...(await this.release(group, author, seq))] };
      }
      if (this.roomToHold(group, bytes)) {
        await this.log.store(envelope, { held: true });
        return { verdict: 'held', waitingFor: 'predecessor', delivered };
      }
      // Making room may release this author's chain: decide again.
      delivered.push(...(await this.makeRoom(group)));
    }
  }

  /** The same message again (the inbox replays what a crash kept it from acking): finish what the first arrival began. */
  private async replayed(envelope: GroupEnvelope, known: StoredGroupMessage): Promise<ReceiveVerdict> {
    if (known.id !== envelope.id) throw new P2pError('CONFLICT', `seq_reused: ${envelope.author} used seq ${envelope.seq} twice`);
    if (known.cursor !== null) this.recordSeen(envelope.group, envelope.author, envelope.seq);
    this.count('group_duplicate');
    return { verdict: 'duplicate' };
  }

  private async holdUnchecked(envelope: GroupEnvelope): Promise<Ordered> {
    const delivered: StoredGroupMessage[] = [];
    const known = this.log.find(envelope.group, envelope.author, envelope.seq);
    if (known !== undefined) return { ...(await this.replayed(envelope, known)), delivered };
    // Past last_seq already: not worth a place among the held, whatever checking it would say.
    if (envelope.seq <= (this.lastSeq(envelope.group, envelope.author) ?? 0)) {
      this.count('group_duplicate');
      return { verdict: 'duplicate', delivered };
    }
    const unchecked = this.uncheckedOf(envelope.group);
    const ofAuthor = this.log.held(envelope.group).filter((held) => held.author === envelope.author && unchecked.has(held.slot)).length;
    if (ofAuthor >= MAX_UNCHECKED_PER_AUTHOR) return { ...this.refused('unchecked_full'), delivered };
    const bytes = storedJson(envelope).length;
    while (!this.roomToHold(envelope.group, bytes)) delivered.push(...(await this.makeRoom(envelope.group)));
    const stored = await this.log.store(envelope, { held: true });
    this.uncheckedOf(envelope.group).add(stored.slot);
    return { verdict: 'held', waitingFor: 'epoch', delivered };
  }

  private deliverable(envelope: GroupEnvelope, last: number | null): boolean {
    if (envelope.seq === (last ?? 0) + 1) return true;
    const joined = this.groups.get(envelope.group)?.joinedEpoch ?? 0;
    return last === null && envelope.prev_epoch < joined;
  }

  /**
   * Releases the author's held, checked messages that follow `after` (the
   * last readable seq), in seq order, then writes last_seq once for the
   * chain: the log first, so a crash between leaves what resume catches up.
   */
  private async release(group: string, author: string, after = this.lastSeq(group, author) ?? 0): Promise<StoredGroupMessage[]> {
    const delivered: StoredGroupMessage[] = [];
    let last = after;
    // Most arrivals find nothing held: no walk over the group's messages then.
    if (this.log.counts(group).held > 0) {
      const unchecked = this.uncheckedOf(group);
      const waiting = this.log
        .held(group)
        .filter((held) => held.author === author && !unchecked.has(held.slot))
        .sort((a, b) => a.seq - b.seq);
      for (const held of waiting) {
        if (held.seq > last + 1) break;
        delivered.push(await this.log.deliver(held.slot));
        last = Math.max(last, held.seq);
      }
    }
    if (last > (this.lastSeq(group, author) ?? 0)) this.recordSeen(group, author, last);
    return delivered;
  }

  /** Whether one more message of `bytes` fits among the held of the group, by count and by bytes. */
  private roomToHold(group: string, bytes: number): boolean {
    const counts = this.log.counts(group);
    const { maxHeldPerGroup, maxHeldBytesPerGroup } = this.log.limits;
    return counts.held < maxHeldPerGroup && counts.heldBytes + bytes <= maxHeldBytesPerGroup;
  }

  /** One held message fewer: the oldest unchecked one dropped, else the oldest waiting author's lowest released with a gap. */
  private async makeRoom(group: string): Promise<StoredGroupMessage[]> {
    const held = this.log.held(group);
    const oldest = held[0];
    if (oldest === undefined) throw new P2pError('LIMIT_REACHED', `no message of ${group} may be held (P2P_COMM_GROUP_MAX_HELD or the held bytes are too small)`);
    const unchecked = this.uncheckedOf(group);
    const oldestUnchecked = held.find((candidate) => unchecked.has(candidate.slot));
    if (oldestUnchecked !== undefined) {
      await this.drop(oldestUnchecked, 'group_held_overflow_dropped');
      return [];
    }
    this.count('group_held_overflow');
    return this.releaseWithGap(group, oldest.author);
  }

  /** The author's lowest checked held message goes readable with a gap, and the chain after it. */
  private async releaseWithGap(group: string, author: string): Promise<StoredGroupMessage[]> {
    const unchecked = this.uncheckedOf(group);
    const lowest = this.log
      .held(group)
      .filter((held) => held.author === author && !unchecked.has(held.slot))
      .sort((a, b) => a.seq - b.seq)[0];
    if (lowest === undefined) return [];
    const first = await this.log.deliver(lowest.slot, { gap: true });
    this.count('group_gap_released');
    return [first, ...(await this.release(group, author, lowest.seq))];
  }

  private async releaseDueIn(group: string): Promise<StoredGroupMessage[]> {
    const delivered: StoredGroupMessage[] = [];
    const due = (held: StoredGroupMessage): boolean => this.now() - held.receivedAt >= this.gapHoldMs;
    const unchecked = this.uncheckedOf(group);
    for (const held of this.log.held(group)) if (unchecked.has(held.slot) && due(held)) await this.drop(held, 'group_epoch_timeout');
    // Oldest first: an author whose oldest held message has waited the hold time has its missing one given up.
    for (;;) {
      const stale = this.log.held(group).find((held) => !unchecked.has(held.slot) && due(held));
      if (stale === undefined) return delivered;
      delivered.push(...(await this.releaseWithGap(group, stale.author)));
    }
  }

  /** Checks the held envelopes that waited for a statement; those of an epoch still unknown go on waiting. */
  private async checkUnchecked(group: string): Promise<StoredGroupMessage[]> {
    const unchecked = this.uncheckedOf(group);
    const waiting = this.log.held(group).filter((held) => unchecked.has(held.slot));
    const envelopes = await this.log.envelopes(waiting);
    const delivered: StoredGroupMessage[] = [];
    const authors = new Set<string>();
    for (const [index, held] of waiting.entries()) {
      const envelope = envelopes[index] as GroupEnvelope;
      const check = checkEnvelope(envelope, this.groups.get(group), this.self, this.peers);
      if (check.check === 'later') continue;
      if (check.check === 'refused') {
        await this.drop(held, `group_${check.refusal}`);
        continue;
      }
      unchecked.delete(held.slot);
      const last = this.lastSeq(group, held.author);
      if (last !== null && held.seq <= last) {
        await this.drop(held, 'group_duplicate');
      } else if (this.deliverable(envelope, last)) {
        delivered.push(await this.log.deliver(held.slot));
        this.recordSeen(group, held.author, held.seq);
      }
      authors.add(held.author);
    }
    for (const author of authors) delivered.push(...(await this.release(group, author)));
    return delivered.sort((a, b) => (a.cursor ?? 0) - (b.cursor ?? 0));
  }

  private async drop(held: StoredGroupMessage, counter: GroupOrderCounter): Promise<void> {
    await this.log.drop(held.slot);
    this.uncheckedOf(held.group).delete(held.slot);
    this.count(counter);
  }

  private lastSeq(group: string, author: string): number | null {
    return this.groups.get(group)?.lastSeq[author] ?? null;
  }

  /** last_seq moves forward only; a group forgotten meanwhile, or an author no statement held lists any more, has none to move. */
  private recordSeen(group: string, author: string, seq: number): void {
    const stored = this.groups.get(group);
    if (stored === undefined || !stored.statements.some((statement) => statement.members.some((member) => member.peer === author))) return;
    this.groups.recordSeen(group, author, seq);
  }

  private uncheckedOf(group: string): Set<number> {
    let slots = this.unchecked.get(group);
    if (slots === undefined) {
      slots = new Set();
      this.unchecked.set(group, slots);
    }
    return slots;
  }

  private count(counter: GroupOrderCounter): void {
    this.counts.set(counter, (this.counts.get(counter) ?? 0) + 1);
  }

  private serially<T>(change: () => Promise<T>): Promise<T> {
    const result = this.queue.then(change);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
