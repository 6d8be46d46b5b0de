import { join } from 'node:path';
import { decodeBase64urlExact, encodeBase64url } from '../common/base64url';
import { P2pError } from '../common/errors';
import { closedObject, nullable, StateFileFormat, TIME_SCHEMA } from '../common/json-state-file';
import { PEER_ID_PATTERN, publicKeyFromPeerId } from '../common/peer-id';
import { quoteUntrusted } from '../common/quote-text';
import {
  describeEpochRefusal,
  type EpochRefusal,
  epochStatementHash,
  type EpochStatement,
  GROUP_ID_PATTERN,
  GroupFormatError,
  type InviteStatement,
  type JoinStatement,
  MAX_GROUP_COUNTER,
  MAX_GROUP_MEMBERS,
  readEpochStatement,
  readInviteStatement,
  readJoinStatement,
  verifyEpochStatement,
  verifyInvite,
} from '../wire/group-statement';
import { type GroupEnvelope, readGroupEnvelope } from '../wire/group-payload';

/**
 * The groups this node belongs to or was invited to (design §4.5), with
 * what is needed to go on verifying them: the creator's key, and the
 * chain of epoch statements from the one before this node joined to the
 * current one, each checked against the one before it. The store applies
 * a statement only as the next link of that chain (or, for an invitee, a
 * later statement that adds it with its own join: it needs no history);
 * whether to accept a statement or an invite at all is the caller's call.
 *
 * File `<data_dir>/groups.json`, mode 0600, replaced atomically on every
 * change (design: a seq is taken, and written, before any copy leaves):
 *
 *   {"version": 1, "groups": {"<group id>": {
 *     "creator_key": "<base64url>",        // the creator's key the next statement is checked with
 *     "former_creator_keys": ["<base64url>"…], // keys the creator signed older statements with, before a rotation
 *     "state": "invited" | "member" | "left" | "removed" | "dissolved",
 *     "reason": null | "<code>",           // why left, e.g. "creator_revoked"
 *     "joined_epoch": null | n,            // null until this node is a member
 *     "invite": null | <invite statement>, // while invited
 *     "join": null | <join statement>,     // while invited, once this node accepted: the add it waits for carries it
 *     "invites_out": {"<peer id>": epoch}, // the creator's open invites: a join is taken only against one
 *     "sent_epoch": n,                     // the creator's: the last epoch whose copies are all in the outbox
 *     "held": [<epoch statement>…],        // later statements waiting for the one before them
 *     "statements": [<epoch statement>…],  // consecutive and hash-linked, oldest first, ≥ 1
 *     "my_seq": n, "my_prev_epoch": n,     // this node's last message to the group (0, 0: none)
 *     "last_seq": {"<peer id>": n},        // per author, the last seq taken in
 *     "outgoing": [{"envelope": <envelope>, // this node's messages whose copies are not all in the outbox yet
 *                   "copies": [{"peer", "relay": null | [peer id…], "message_id", "queued": bool}]}],
 *     "updated_at": "<ISO>"}}}
 *
 * Everything in it is checked again at open (statements by the wire
 * readers, links and signatures by verifyEpochStatement): a file that
 * fails is refused whole, with the first problem. Name and creator are
 * those of the statements, so they are not written twice.
 */
export const GROUPS_FILE_NAME = 'groups.json';

export type GroupState = 'invited' | 'member' | 'left' | 'removed' | 'dissolved';

/** The states a group is over in: it holds no place among the open groups. */
export const ENDED_GROUP_STATES: readonly GroupState[] = ['left', 'removed', 'dissolved'];

export interface StoredGroup {
  readonly id: string;
  readonly name: string;
  readonly creator: string;
  readonly creatorKey: Uint8Array;
  readonly state: GroupState;
  readonly reason: string | null;
  readonly joinedEpoch: number | null;
  readonly invite: InviteStatement | null;
  /** The join this node signed for the invite, once it accepted it. */
  readonly join: JoinStatement | null;
  /** The creator's open invites: peer → the epoch it was invited at. */
  readonly invitesOut: Readonly<Record<string, number>>;
  /** The creator's: the last epoch whose copies to the members are all in the outbox. */
  readonly sentEpoch: number;
  /** Statements that came before the one they follow, oldest first. */
  readonly held: readonly EpochStatement[];
  /** Oldest first; the last is the current epoch. */
  readonly statements: readonly EpochStatement[];
  readonly mySeq: number;
  readonly myPrevEpoch: number;
  readonly lastSeq: Readonly<Record<string, number>>;
  /** This node's messages to the group signed, their seq taken, with copies not yet all in the outbox (design §4.10). */
  readonly outgoing: readonly OutgoingSend[];
  readonly updatedAt: Date;
}

/**
 * One message this node sends to a group, recorded before any copy
 * leaves: each copy's message id is chosen then, so a copy queued again
 * after a crash keeps its id (and the receiver its dedupe).
 */
export interface OutgoingSend {
  readonly envelope: GroupEnvelope;
  readonly copies: readonly OutgoingCopy[];
}

export interface OutgoingCopy {
  readonly peer: string;
  readonly relay: readonly string[] | null;
  readonly messageId: string;
  /** In the outbox. */
  readonly queued: boolean;
}

/** Messages of this node's to one group whose copies wait for room in an outbox: one more is refused. */
export const MAX_OUTGOING_PER_GROUP = 64;

export interface GroupStoreLimits {
  /** Groups not ended, invites included (P2P_COMM_MAX_GROUPS); as many ended ones are kept besides, the newest. */
  maxGroups: number;
  /** Members a group of this node's may have, at most the format's 32 (P2P_COMM_GROUP_MAX_MEMBERS). */
  maxMembers: number;
  /** Open invites from one creator (P2P_COMM_GROUP_MAX_INVITES_PER_PEER). */
  maxInvitesPerCreator: number;
  /** Statements kept per group, the newest: what envelopes held for an older epoch can still be checked against. */
  maxStatements: number;
}

export const DEFAULT_GROUP_STORE_LIMITS: GroupStoreLimits = {
  maxGroups: 64,
  maxMembers: MAX_GROUP_MEMBERS,
  maxInvitesPerCreator: 4,
  maxStatements: 64,
};

/** What recording a statement did: `gap` means an earlier one is missing (hold it); `refused` carries why. */
export type EpochOutcome =
  | { outcome: 'applied'; group: StoredGroup; applied: EpochStatement[] }
  | { outcome: 'known'; group: StoredGroup }
  | { outcome: 'gap'; group: StoredGroup }
  | { outcome: 'refused'; message: string };

interface GroupEntry {
  creator_key: string;
  former_creator_keys: string[];
  state: GroupState;
  reason: string | null;
  joined_epoch: number | null;
  invite: InviteStatement | null;
  join: JoinStatement | null;
  invites_out: Record<string, number>;
  sent_epoch: number;
  held: EpochStatement[];
  statements: EpochStatement[];
  my_seq: number;
  my_prev_epoch: number;
  last_seq: Record<string, number>;
  outgoing: OutgoingEntry[];
  updated_at: string;
}

interface OutgoingEntry {
  envelope: GroupEnvelope;
  copies: { peer: string; relay: string[] | null; message_id: string; queued: boolean }[];
}

interface GroupsFile {
  version: 1;
  groups: Record<string, GroupEntry>;
}

const COUNTER_SCHEMA = { type: 'integer', minimum: 0, maximum: MAX_GROUP_COUNTER };
const REASON_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
const KEY_PATTERN = '^[A-Za-z0-9_-]{43}$';
/** Rotations of a creator whose older statements are still held: more means statements that old are pruned anyway. */
const MAX_FORMER_CREATOR_KEYS = 16;

const GROUPS_FILE = new StateFileFormat<GroupsFile>({
  name: 'the groups file',
  movingAwayMeans: 'leave every group and drop every invite (the creators must invite this node again)',
  schema: closedObject({
    version: { const: 1 },
    groups: {
      type: 'object',
      propertyNames: { pattern: GROUP_ID_PATTERN.source },
      additionalProperties: closedObject({
        creator_key: { type: 'string', pattern: KEY_PATTERN },
        former_creator_keys: { type: 'array', maxItems: MAX_FORMER_CREATOR_KEYS, items: { type: 'string', pattern: KEY_PATTERN } },
        state: { enum: ['invited', 'member', 'left', 'removed', 'dissolved'] },
        reason: nullable({ type: 'string', pattern: REASON_PATTERN.source } as { type: string }),
        joined_epoch: nullable(COUNTER_SCHEMA),
        // The statements' own rules are the wire readers', applied by check.
        invite: { type: ['object', 'null'] },
        join: { type: ['object', 'null'] },
        invites_out: { type: 'object', propertyNames: { pattern: PEER_ID_PATTERN.source }, additionalProperties: COUNTER_SCHEMA },
        sent_epoch: COUNTER_SCHEMA,
        held: { type: 'array', items: { type: 'object' } },
        statements: { type: 'array', minItems: 1, items: { type: 'object' } },
        my_seq: COUNTER_SCHEMA,
        my_prev_epoch: COUNTER_SCHEMA,
        last_seq: { type: 'object', propertyNames: { pattern: PEER_ID_PATTERN.source }, additionalProperties: COUNTER_SCHEMA },
        outgoing: {
          type: 'array',
          maxItems: MAX_OUTGOING_PER_GROUP,
          items: closedObject({
            // The envelope's own rules are the wire reader's, applied by check.
            envelope: { type: 'object' },
            copies: {
              type: 'array',
              minItems: 1,
              maxItems: MAX_GROUP_MEMBERS,
              items: closedObject({
                peer: { type: 'string', pattern: PEER_ID_PATTERN.source },
                relay: nullable({ type: 'array', minItems: 1, maxItems: MAX_GROUP_MEMBERS, items: { type: 'string', pattern: PEER_ID_PATTERN.source } } as { type: string }),
                message_id: { type: 'string', pattern: '^[0-9a-f]{32}$' },
                queued: { type: 'boolean' },
              }),
            },
          }),
        },
        updated_at: TIME_SCHEMA,
      }),
    },
  }),
  check: (file) => {
    for (const [id, entry] of Object.entries(file.groups)) {
      const problem = entryProblem(id, entry);
      if (problem !== undefined) return `group ${id}: ${problem}`;
    }
    return undefined;
  },
});

export class GroupStore {
  private constructor(
    private readonly path: string,
    private file: GroupsFile,
    private readonly self: string,
    readonly limits: GroupStoreLimits,
    private readonly now: () => Date,
    private readonly ownKeys: () => readonly Uint8Array[],
  ) {}

  /**
   * `self`: this node's peer id, what tells whether a statement lists this
   * node; `ownKeys`: the keys this node signs with (its current one, and
   * one still retiring), the only ones a statement may list for it.
   */
  static open(
    dataDir: string,
    self: string,
    limits: Partial<GroupStoreLimits> = {},
    now: () => Date = () => new Date(),
    ownKeys: () => readonly Uint8Array[] = () => [publicKeyFromPeerId(self)],
  ): GroupStore {
    const all = { ...DEFAULT_GROUP_STORE_LIMITS, ...limits };
    if (!Number.isInteger(all.maxMembers) || all.maxMembers < 2 || all.maxMembers > MAX_GROUP_MEMBERS) {
      throw new RangeError(`a group has 2 to ${MAX_GROUP_MEMBERS} members at most (the format's cap), not ${all.maxMembers}`);
    }
    for (const name of ['maxGroups', 'maxInvitesPerCreator', 'maxStatements'] as const) {
      if (!Number.isInteger(all[name]) || all[name] < 1) throw new RangeError(`${name} must be a whole number >= 1, not ${all[name]}`);
    }
    const path = join(dataDir, GROUPS_FILE_NAME);
    return new GroupStore(path, GROUPS_FILE.load(path) ?? { version: 1, groups: {} }, self, all, now, ownKeys);
  }

  get(groupId: string): StoredGroup | undefined {
    const entry = this.file.groups[groupId];
    return entry === undefined ? undefined : groupOf(groupId, entry);
  }

  /** Oldest change first. */
  list(): StoredGroup[] {
    return Object.entries(this.file.groups)
      .map(([id, entry]) => groupOf(id, entry))
      .sort((a, b) => a.updatedAt.getTime() - b.updatedAt.getTime());
  }

  /** A group this node creates: epoch 0, signed by this node, which is its creator. */
  create(statement: EpochStatement, creatorKey: Uint8Array): StoredGroup {
    if (statement.epoch !== 0 || statement.creator !== this.self) throw new P2pError('INVALID_INPUT', 'a group this node creates starts at epoch 0 with this node as its creator');
    const refusal = verifyEpochStatement(statement, creatorKey);
    if (refusal !== null) throw new P2pError('INVALID_INPUT', `the create statement of ${statement.group} is refused: ${describeEpochRefusal(refusal)}`);
    if (this.file.groups[statement.group] !== undefined) throw new P2pError('CONFLICT', `group ${statement.group} is recorded already`);
    this.checkRoomForGroup();
    return this.put(statement.group, {
      ...freshEntry(creatorKey, [statement], this.now()),
      state: 'member',
      joined_epoch: 0,
    });
  }

  /**
   * An invite with the statements sent beside it (consecutive, the last of
   * the invite's epoch), checked with the creator's key. An invite to a
   * group this node is a member of changes nothing; one to a group it left
   * or was removed from invites it again; a dissolved group takes none.
   */
  addInvite(invite: InviteStatement, statements: readonly EpochStatement[], creatorKey: Uint8Array): StoredGroup {
    const head = statements[statements.length - 1];
    if (head === undefined) throw new P2pError('INVALID_INPUT', 'an invite comes with at least the statement of its epoch');
    if (invite.invitee !== this.self) throw new P2pError('INVALID_INPUT', `the invite is for ${invite.invitee}, not this node`);
    const problem = chainProblem(statements, creatorKey) ?? inviteProblem(invite, head, creatorKey);
    if (problem !== undefined) throw new P2pError('INVALID_INPUT', `the invite to ${invite.group} is refused: ${problem}`);
    const existing = this.file.groups[invite.group];
    if (existing?.state === 'member') return groupOf(invite.group, existing);
    if (existing?.state === 'dissolved') throw new P2pError('CONFLICT', `group ${invite.group} was dissolved: it takes no new members`);
    const fork = existing === undefined ? undefined : forkIn(existing.statements, statements);
    // The chain held is the evidence of what the creator signed before: an invite that contradicts it does not replace it.
    if (fork !== undefined) throw new P2pError('CONFLICT', `the invite to ${invite.group} is refused: the creator signed two statements of epoch ${fork}`);
    if (existing === undefined || existing.state !== 'invited') {
      this.checkRoomForGroup();
      this.checkRoomForInvite(head.creator);
    }
    // Counters survive a new invite: a seq this node used before it left is never used again.
    const counters =
      existing === undefined
        ? {}
        : {
            my_seq: existing.my_seq,
            my_prev_epoch: Math.min(existing.my_prev_epoch, head.epoch),
            last_seq: existing.last_seq,
            former_creator_keys: formerKeysAfter(existing, creatorKey),
          };
    return this.put(invite.group, { ...freshEntry(creatorKey, [...statements], this.now()), ...counters, invite });
  }

  /**
   * The next epoch of a group, checked against the current one with the
   * creator's key; this node's state follows what it says of this node.
   * `creatorKey` is the key this node knows for the creator now: after a
   * rotation it replaces the one held (which older statements stay checked
   * with). An invited node also takes a later statement that adds it with
   * the join it signed: its chain starts there. A statement already
   * held is `known`; a later one is held (`gap`) and applied once the
   * statements before it are, in the same call as the last of them.
   */
  recordEpoch(groupId: string, statement: EpochStatement, creatorKey?: Uint8Array): EpochOutcome {
    const first = this.applyOne(groupId, statement, creatorKey);
    if (first.outcome !== 'applied') return first.outcome === 'gap' ? this.hold(groupId, statement) : first;
    const applied = [statement];
    let group = first.group;
    for (let next = this.heldAfter(groupId); next !== undefined; next = this.heldAfter(groupId)) {
      const outcome = this.applyOne(groupId, next, creatorKey);
      this.dropHeld(groupId, next.epoch);
      if (outcome.outcome !== 'applied') continue;
      applied.push(next);
      group = outcome.group;
    }
    return { outcome: 'applied', group: this.get(groupId) ?? group, applied };
  }

  private applyOne(groupId: string, statement: EpochStatement, currentCreatorKey: Uint8Array | undefined): EpochOutcome {
    const entry = this.entry(groupId);
    const head = entry.statements[entry.statements.length - 1] as EpochStatement;
    if (statement.group !== groupId) return { outcome: 'refused', message: `the statement is of group ${statement.group}, not ${groupId}` };
    if (statement.epoch <= head.epoch) {
      const held = entry.statements.find((candidate) => candidate.epoch === statement.epoch);
      if (held === undefined) return { outcome: 'known', group: groupOf(groupId, entry) };
      if (epochStatementHash(held) === epochStatementHash(statement)) return { outcome: 'known', group: groupOf(groupId, entry) };
      return { outcome: 'refused', message: `another statement of epoch ${statement.epoch} is held already: the creator signed two` };
    }
    const listed = statement.members.find((member) => member.peer === this.self);
    // An invitee needs no history: the statement that adds it with its own join starts its chain. Any other later one
    // waits for those before it (for an invitee, one that follows its add and overtook it).
    const restarts = entry.state === 'invited' && statement.epoch > head.epoch + 1 && this.addsOwnJoin(entry, statement);
    if (statement.epoch > head.epoch + 1 && !restarts) return { outcome: 'gap', group: groupOf(groupId, entry) };
    if (entry.state === 'dissolved') return { outcome: 'refused', message: `group ${groupId} is dissolved: no epoch follows` };
    if (listed !== undefined && !this.ownKeys().some((key) => encodeBase64url(key) === listed.key)) {
      return { outcome: 'refused', message: `the statement lists this node with a key it does not hold` };
    }
    // Without the epoch before it, a leave's signature cannot be checked: such a statement is not where a chain starts.
    if (restarts && statement.changes.some((change) => change.op === 'leave')) {
      return { outcome: 'refused', message: `the statement records a leave this node cannot check (it holds no epoch before it)` };
    }
    if (entry.state === 'invited' && !this.addsOwnJoin(entry, statement)) {
      return { outcome: 'refused', message: `this node is only invited to ${groupId}: the statement it takes is the one that adds it with the join it signed` };
    }
    const replayed = replayedJoin(entry.statements, statement);
    if (replayed !== undefined) return { outcome: 'refused', message: `the statement adds ${replayed} with a join older than its last leave or removal` };
    const keys = this.creatorKeysFor(entry, statement, currentCreatorKey, restarts ? null : head);
    if (typeof keys === 'string') return { outcome: 'refused', message: keys };
    const statements = restarts ? [statement] : [...entry.statements, statement];
    const next: GroupEntry = { ...entry, ...keys, ...this.stateAfter(entry, statement), statements, updated_at: this.now().toISOString() };
    next.statements = kept(next, this.limits.maxStatements);
    next.last_seq = lastSeqOfListed(next);
    return { outcome: 'applied', group: this.put(groupId, next), applied: [statement] };
  }

  /**
   * The statement verified with the creator key held, or with the one this
   * node knows now when the creator rotated: that one then becomes the key
   * held, and the one before joins the former keys. A refusal's text otherwise.
   */
  private creatorKeysFor(
    entry: GroupEntry,
    statement: EpochStatement,
    currentKey: Uint8Array | undefined,
    previous: EpochStatement | null,
  ): Pick<GroupEntry, 'creator_key' | 'former_creator_keys'> | string {
    const refusal = verifyEpochStatement(statement, keyBytes(entry.creator_key), previous);
    if (refusal === null) return { creator_key: entry.creator_key, former_creator_keys: entry.former_creator_keys };
    if (currentKey === undefined || encodeBase64url(currentKey) === entry.creator_key || refusal !== 'bad_signature') return describeEpochRefusal(refusal);
    const rotated = verifyEpochStatement(statement, currentKey, previous);
    if (rotated !== null) return describeEpochRefusal(rotated);
    return { creator_key: encodeBase64url(currentKey), former_creator_keys: formerKeysAfter(entry, currentKey) };
  }

  /** Whether the statement adds this node with the very join it signed when it accepted. */
  private addsOwnJoin(entry: GroupEntry, statement: EpochStatement): boolean {
    if (entry.join === null) return false;
    const signed = entry.join.sig;
    return statement.changes.some((change) => change.op === 'add' && change.peer === this.self && change.join.sig === signed);
  }

  /** A statement for a later epoch than the next, kept (at most maxStatements of them) until the ones before it arrive. */
  private hold(groupId: string, statement: EpochStatement): EpochOutcome {
    const entry = this.entry(groupId);
    if (entry.held.some((held) => held.epoch === statement.epoch) || entry.held.length >= this.limits.maxStatements) {
      return { outcome: 'gap', group: groupOf(groupId, entry) };
    }
    const held = [...entry.held, statement].sort((a, b) => a.epoch - b.epoch);
    return { outcome: 'gap', group: this.put(groupId, { ...entry, held }) };
  }

  private heldAfter(groupId: string): EpochStatement | undefined {
    const entry = this.entry(groupId);
    const head = entry.statements[entry.statements.length - 1] as EpochStatement;
    return entry.held.find((held) => held.epoch <= head.epoch + 1);
  }

  private dropHeld(groupId: string, epoch: number): void {
    const entry = this.entry(groupId);
    this.put(groupId, { ...entry, held: entry.held.filter((held) => held.epoch !== epoch) });
  }

  /** This node accepted the invite: the join it signed is kept, and only the add that carries it makes this node a member. */
  recordJoin(groupId: string, join: JoinStatement): StoredGroup {
    const entry = this.entry(groupId);
    if (entry.state !== 'invited') throw new P2pError('CONFLICT', `this node is not invited to ${groupId} (it is ${entry.state})`);
    return this.put(groupId, { ...entry, join, updated_at: this.now().toISOString() });
  }

  /** The creator invited `peer` at `epoch`: one join of it is taken, with epoch_seen at least that. */
  openInvite(groupId: string, peer: string, epoch: number): StoredGroup {
    const entry = this.entry(groupId);
    return this.put(groupId, { ...entry, invites_out: { ...entry.invites_out, [peer]: epoch }, updated_at: this.now().toISOString() });
  }

  /** The creator took the peer's join, or the peer declined: no other join of it is taken until a new invite. */
  closeInvite(groupId: string, peer: string): StoredGroup {
    const entry = this.entry(groupId);
    if (entry.invites_out[peer] === undefined) return groupOf(groupId, entry);
    const invitesOut = { ...entry.invites_out };
    delete invitesOut[peer];
    return this.put(groupId, { ...entry, invites_out: invitesOut });
  }

  /** The creator's copies of every epoch through `epoch` are in the outbox: at start, later ones are sent again. */
  markSent(groupId: string, epoch: number): StoredGroup {
    const entry = this.entry(groupId);
    if (entry.sent_epoch >= epoch) return groupOf(groupId, entry);
    return this.put(groupId, { ...entry, sent_epoch: epoch });
  }

  /** This node leaves at once (design §4.4: it sends and takes nothing more); also declines an invite. */
  leave(groupId: string, reason: string): StoredGroup {
    if (!REASON_PATTERN.test(reason)) throw new RangeError(`a reason is a code of a-z, 0-9 and _, got ${quoteUntrusted(reason)}`);
    const entry = this.entry(groupId);
    if (ENDED_GROUP_STATES.includes(entry.state)) return groupOf(groupId, entry);
    return this.put(groupId, { ...entry, state: 'left', reason, invite: null, join: null, updated_at: this.now().toISOString() });
  }

  /** Drops a group from the file: one this node is done with. */
  forget(groupId: string): void {
    if (this.file.groups[groupId] === undefined) return;
    const groups = { ...this.file.groups };
    delete groups[groupId];
    this.commit({ ...this.file, groups });
  }

  /** Takes the seq of this node's next message to the group, written before it is returned: a seq is never used twice. */
  takeSeq(groupId: string): { seq: number; prevEpoch: number; epoch: number } {
    const entry = this.sendable(groupId);
    const epoch = (entry.statements[entry.statements.length - 1] as EpochStatement).epoch;
    const taken = { seq: entry.my_seq + 1, prevEpoch: entry.my_prev_epoch, epoch };
    this.put(groupId, { ...entry, my_seq: taken.seq, my_prev_epoch: epoch, updated_at: this.now().toISOString() });
    return taken;
  }

  /**
   * Takes the seq of this node's next message to the group and records the
   * message `prepare` signs with it as outgoing, in one write: the seq is
   * never used twice, and the message is sent again after a crash until
   * every copy is in the outbox. A throw of `prepare` (a message too
   * large) writes nothing and takes no seq.
   */
  beginSend(groupId: string, prepare: (taken: { seq: number; prevEpoch: number; epoch: number }) => OutgoingSend): OutgoingSend {
    const entry = this.sendable(groupId);
    if (entry.outgoing.length >= MAX_OUTGOING_PER_GROUP) {
      throw new P2pError('LIMIT_REACHED', `${entry.outgoing.length} messages of this node's to ${groupId} still wait for room in a member's outbox; send again once they are queued`);
    }
    const epoch = (entry.statements[entry.statements.length - 1] as EpochStatement).epoch;
    const send = prepare({ seq: entry.my_seq + 1, prevEpoch: entry.my_prev_epoch, epoch });
    if (send.envelope.group !== groupId || send.envelope.seq !== entry.my_seq + 1 || send.envelope.author !== this.self) {
      throw new RangeError('the outgoing envelope is not the one this seq was taken for');
    }
    // A group of this node alone: the seq is taken, no copy waits.
    const outgoing = send.copies.length === 0 ? entry.outgoing : [...entry.outgoing, outgoingEntryOf(send)];
    this.put(groupId, { ...entry, my_seq: send.envelope.seq, my_prev_epoch: epoch, outgoing, updated_at: this.now().toISOString() });
    return send;
  }

  /**
   * Copies of an outgoing message are in the outbox; once all are (or the
   * rest go to no one: `dropPeers`, members no longer in the group), the
   * message is no longer outgoing.
   */
  copiesQueued(groupId: string, envelopeId: string, messageIds: readonly string[], dropPeers: readonly string[] = []): StoredGroup {
    const entry = this.entry(groupId);
    const queued = new Set(messageIds);
    const outgoing = entry.outgoing.flatMap((send) => {
      if (send.envelope.id !== envelopeId) return [send];
      const copies = send.copies
        .filter((copy) => !dropPeers.includes(copy.peer))
        .map((copy) => (queued.has(copy.message_id) ? { ...copy, queued: true } : copy));
      return copies.every((copy) => copy.queued) ? [] : [{ ...send, copies }];
    });
    return this.put(groupId, { ...entry, outgoing });
  }

  /** The last seq taken in from an author moves forward only; returns false when it did not move. */
  recordSeen(groupId: string, author: string, seq: number): boolean {
    const entry = this.entry(groupId);
    if (!Number.isInteger(seq) || seq < 1 || seq > MAX_GROUP_COUNTER) throw new RangeError(`a seq is 1 to ${MAX_GROUP_COUNTER}, not ${seq}`);
    if (!entry.statements.some((statement) => statement.members.some((member) => member.peer === author))) {
      throw new P2pError('INVALID_INPUT', `${author} is a member of no epoch of ${groupId} this node holds`);
    }
    if ((entry.last_seq[author] ?? 0) >= seq) return false;
    this.put(groupId, { ...entry, last_seq: { ...entry.last_seq, [author]: seq } });
    return true;
  }

  /** A group this node may send to now. */
  private sendable(groupId: string): GroupEntry {
    const entry = this.entry(groupId);
    if (entry.state !== 'member') throw new P2pError('CONFLICT', `this node is not a member of ${groupId} (it is ${entry.state}) and sends nothing to it`);
    if (entry.my_seq >= MAX_GROUP_COUNTER) throw new P2pError('LIMIT_REACHED', `this node sent ${MAX_GROUP_COUNTER} messages to ${groupId}, the most a group takes from one author`);
    return entry;
  }

  /** Refuses (LIMIT_REACHED, naming the setting) a member beyond the group's limit: what the creator checks before it invites. */
  checkRoomForMember(groupId: string): void {
    const entry = this.entry(groupId);
    const members = (entry.statements[entry.statements.length - 1] as EpochStatement).members.length;
    if (members >= this.limits.maxMembers) {
      throw new P2pError('LIMIT_REACHED', `group ${groupId} has ${members} members, the most a group may have (P2P_COMM_GROUP_MAX_MEMBERS, ${this.limits.maxMembers})`);
    }
  }

  /**
   * This node's state once a statement is applied: what it says of this
   * node. Only an invited node becomes a member, and only through the add
   * that carries its own join (checked before); a node that left or was
   * removed stays out whatever a later statement lists.
   */
  private stateAfter(entry: GroupEntry, statement: EpochStatement): Pick<GroupEntry, 'state' | 'reason' | 'joined_epoch' | 'invite' | 'join'> {
    if (statement.changes.some((change) => change.op === 'dissolve')) return { state: 'dissolved', reason: null, joined_epoch: entry.joined_epoch, invite: null, join: null };
    const listed = statement.members.some((member) => member.peer === this.self);
    if (listed && entry.state === 'invited') return { state: 'member', reason: null, joined_epoch: statement.epoch, invite: null, join: null };
    if (!listed && entry.state === 'member') {
      const removed = statement.changes.some((change) => change.op === 'remove' && change.peer === this.self);
      return { state: removed ? 'removed' : 'left', reason: removed ? null : entry.reason, joined_epoch: entry.joined_epoch, invite: null, join: null };
    }
    return { state: entry.state, reason: entry.reason, joined_epoch: entry.joined_epoch, invite: entry.invite, join: entry.join };
  }

  private checkRoomForGroup(): void {
    const open = Object.values(this.file.groups).filter((entry) => !ENDED_GROUP_STATES.includes(entry.state)).length;
    if (open >= this.limits.maxGroups) {
      throw new P2pError('LIMIT_REACHED', `this node is in ${open} groups or invites, the most it takes (P2P_COMM_MAX_GROUPS, ${this.limits.maxGroups}): leave a group or decline an invite first`);
    }
  }

  private checkRoomForInvite(creator: string): void {
    const open = Object.values(this.file.groups).filter((entry) => entry.state === 'invited' && creatorOf(entry) === creator).length;
    if (open >= this.limits.maxInvitesPerCreator) {
      throw new P2pError('LIMIT_REACHED', `${open} invites from ${creator} are open, the most from one creator (P2P_COMM_GROUP_MAX_INVITES_PER_PEER, ${this.limits.maxInvitesPerCreator})`);
    }
  }

  private entry(groupId: string): GroupEntry {
    const entry = this.file.groups[groupId];
    if (entry === undefined) throw new P2pError('NOT_FOUND', `this node holds no group ${quoteUntrusted(groupId)}`);
    return entry;
  }

  /** Writes the group and drops the oldest ended groups beyond maxGroups of them; the group written is the newest. */
  private put(groupId: string, entry: GroupEntry): StoredGroup {
    const groups = { ...this.file.groups, [groupId]: entry };
    const room = this.limits.maxGroups - (ENDED_GROUP_STATES.includes(entry.state) ? 1 : 0);
    const endedBefore = Object.entries(groups)
      .filter(([id, candidate]) => id !== groupId && ENDED_GROUP_STATES.includes(candidate.state))
      .sort(([, a], [, b]) => b.updated_at.localeCompare(a.updated_at));
    for (const [id] of endedBefore.slice(room)) delete groups[id];
    this.commit({ ...this.file, groups });
    return groupOf(groupId, entry);
  }

  /** The file is written first, so a failed write leaves memory and disk alike. */
  private commit(next: GroupsFile): void {
    GROUPS_FILE.save(this.path, next);
    this.file = next;
  }
}

function freshEntry(creatorKey: Uint8Array, statements: EpochStatement[], now: Date): GroupEntry {
  return {
    creator_key: encodeBase64url(creatorKey),
    former_creator_keys: [],
    state: 'invited',
    reason: null,
    joined_epoch: null,
    invite: null,
    join: null,
    invites_out: {},
    sent_epoch: 0,
    held: [],
    statements,
    my_seq: 0,
    my_prev_epoch: 0,
    last_seq: {},
    outgoing: [],
    updated_at: now.toISOString(),
  };
}

function groupOf(id: string, entry: GroupEntry): StoredGroup {
  const head = entry.statements[entry.statements.length - 1] as EpochStatement;
  return {
    id,
    name: head.name,
    creator: head.creator,
    creatorKey: keyBytes(entry.creator_key),
    state: entry.state,
    reason: entry.reason,
    joinedEpoch: entry.joined_epoch,
    invite: entry.invite,
    join: entry.join,
    invitesOut: entry.invites_out,
    sentEpoch: entry.sent_epoch,
    held: entry.held,
    statements: entry.statements,
    mySeq: entry.my_seq,
    myPrevEpoch: entry.my_prev_epoch,
    lastSeq: entry.last_seq,
    outgoing: entry.outgoing.map((send) => ({
      envelope: send.envelope,
      copies: send.copies.map((copy) => ({ peer: copy.peer, relay: copy.relay, messageId: copy.message_id, queued: copy.queued })),
    })),
    updatedAt: new Date(entry.updated_at),
  };
}

function outgoingEntryOf(send: OutgoingSend): OutgoingEntry {
  return {
    envelope: send.envelope,
    copies: send.copies.map((copy) => ({ peer: copy.peer, relay: copy.relay === null ? null : [...copy.relay], message_id: copy.messageId, queued: copy.queued })),
  };
}

function creatorOf(entry: GroupEntry): string {
  return (entry.statements[0] as EpochStatement).creator;
}

/** From the epoch before this node joined on (design §4.5), and at most `max`, the newest. */
function kept(entry: GroupEntry, max: number): EpochStatement[] {
  const from = entry.joined_epoch === null ? 0 : entry.joined_epoch - 1;
  const statements = entry.statements.filter((statement) => statement.epoch >= from);
  return statements.slice(Math.max(0, statements.length - max));
}

/** Authors listed by no statement held can no longer be checked: their counters go (bounded by members × statements). */
function lastSeqOfListed(entry: GroupEntry): Record<string, number> {
  const listed = new Set(entry.statements.flatMap((statement) => statement.members.map((member) => member.peer)));
  return Object.fromEntries(Object.entries(entry.last_seq).filter(([author]) => listed.has(author)));
}

/** The keys older statements were signed with, once `currentKey` replaces the one held; bounded, the newest kept. */
function formerKeysAfter(entry: GroupEntry, currentKey: Uint8Array): string[] {
  const current = encodeBase64url(currentKey);
  const former = [...entry.former_creator_keys, entry.creator_key].filter((key, index, all) => key !== current && all.indexOf(key) === index);
  return former.slice(Math.max(0, former.length - MAX_FORMER_CREATOR_KEYS));
}

/** The first epoch both chains hold under different statements: the creator signed two. */
function forkIn(held: readonly EpochStatement[], offered: readonly EpochStatement[]): number | undefined {
  const hashes = new Map(held.map((statement) => [statement.epoch, epochStatementHash(statement)]));
  return offered.find((statement) => {
    const hash = hashes.get(statement.epoch);
    return hash !== undefined && hash !== epochStatementHash(statement);
  })?.epoch;
}

/**
 * A peer the statement adds with a join older than the last epoch (of
 * those held) that recorded its leave or removal: a join replayed to put
 * back a member who is out, without a new invite it accepted.
 */
function replayedJoin(held: readonly EpochStatement[], statement: EpochStatement): string | undefined {
  for (const change of statement.changes) {
    if (change.op !== 'add') continue;
    const exits = held.filter((earlier) => earlier.changes.some((other) => (other.op === 'leave' || other.op === 'remove') && other.peer === change.peer));
    const lastExit = exits.at(-1)?.epoch;
    if (lastExit !== undefined && change.join.epoch_seen < lastExit) return change.peer;
  }
  return undefined;
}

function keyBytes(text: string): Uint8Array {
  return decodeBase64urlExact(text, 32) as Uint8Array;
}

/**
 * The statement chains checked already, with the creator key and invite
 * they were checked with. The rules run before every write too, and a
 * write (a seq taken, a seq seen) mostly leaves the chains as they were:
 * their signatures are checked once, not at every message.
 */
const checkedChains = new WeakMap<readonly EpochStatement[], string>();

/** What is wrong with a group as the file holds it, or undefined: its statements and invite by the wire rules, then its chain. */
function entryProblem(id: string, entry: GroupEntry): string | undefined {
  const creatorKey = decodeBase64urlExact(entry.creator_key, 32);
  if (creatorKey === null) return 'creator_key is not a 32-byte key';
  const checkedWith = `${id} ${entry.creator_key} ${entry.former_creator_keys.join(',')} ${entry.state} ${entry.invite === null ? '' : JSON.stringify(entry.invite)}`;
  if (checkedChains.get(entry.statements) !== checkedWith) {
    const problem = chainAndInviteProblem(id, entry, creatorKey);
    if (problem !== undefined) return problem;
    checkedChains.set(entry.statements, checkedWith);
  }
  const head = entry.statements[entry.statements.length - 1] as EpochStatement;
  if (entry.state === 'member' && entry.joined_epoch === null) return 'a member has no joined_epoch';
  if (entry.my_prev_epoch > head.epoch) return `my_prev_epoch ${entry.my_prev_epoch} is after the current epoch ${head.epoch}`;
  return undefined;
}

function chainAndInviteProblem(id: string, entry: GroupEntry, creatorKey: Uint8Array): string | undefined {
  try {
    entry.statements.forEach((statement, index) => readEpochStatement(statement, `statements[${index}]`));
    entry.held.forEach((statement, index) => readEpochStatement(statement, `held[${index}]`));
    if (entry.invite !== null) readInviteStatement(entry.invite, 'invite');
    if (entry.join !== null) readJoinStatement(entry.join, 'join');
    entry.outgoing.forEach((send, index) => readGroupEnvelope(send.envelope, `outgoing[${index}].envelope`));
  } catch (error) {
    if (error instanceof GroupFormatError) return error.message;
    throw error;
  }
  const head = entry.statements[entry.statements.length - 1] as EpochStatement;
  if (head.group !== id) return `its statements are of group ${head.group}`;
  const formerKeys = entry.former_creator_keys.map((key) => decodeBase64urlExact(key, 32));
  if (formerKeys.some((key) => key === null)) return 'former_creator_keys holds a text that is not a 32-byte key';
  const problem = chainProblem(entry.statements, creatorKey, formerKeys as Uint8Array[]);
  if (problem !== undefined) return problem;
  if (entry.join !== null && entry.state !== 'invited') return 'a join is held only while the state is invited';
  if ((entry.state === 'invited') !== (entry.invite !== null)) return 'an invite is held exactly while the state is invited';
  return entry.invite === null ? undefined : inviteProblem(entry.invite, head, creatorKey);
}

/**
 * Statements of one group, consecutive, each verified against the one
 * before it (the first on its own), signed with the creator's key or, for
 * those before a rotation, one of its former keys.
 */
function chainProblem(statements: readonly EpochStatement[], creatorKey: Uint8Array, formerKeys: readonly Uint8Array[] = []): string | undefined {
  let previous: EpochStatement | null = null;
  for (const statement of statements) {
    if (previous !== null && statement.group !== previous.group) return `epoch ${statement.epoch} is of another group`;
    const before = previous;
    const verdicts = [creatorKey, ...formerKeys].map((key) => verifyEpochStatement(statement, key, before));
    const refusal = verdicts.includes(null) ? null : (verdicts[0] as EpochRefusal);
    if (refusal !== null) return `epoch ${statement.epoch}: ${describeEpochRefusal(refusal)}`;
    previous = statement;
  }
  return undefined;
}

function inviteProblem(invite: InviteStatement, head: EpochStatement, creatorKey: Uint8Array): string | undefined {
  const refusal = verifyInvite(invite, head, creatorKey);
  return refusal === null ? undefined : `the invite is refused (${refusal})`;
}
