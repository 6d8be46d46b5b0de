import { join } from 'node:path';
import { P2pError } from '../common/errors';
import { cachedPublicKeyFromPeerId, peerIdFromPublicKey } from '../common/peer-id';
import { DEFAULT_COMPACTION_MIN_BYTES, Journal } from '../store/journal';
import { type RecordPlace, RecordReader, RecordWriter, type RewriteEntry } from '../store/record-log';
import { type GroupEnvelope, MAX_ENVELOPE_BYTES, readGroupEnvelope } from '../wire/group-payload';
import { GROUP_ID_PATTERN, GroupFormatError } from '../wire/group-statement';
import { canonicalJson } from '../wire/jcs';

/**
 * The group messages this node took in and its plugins have not acked yet
 * (design §4.5), for `group_receive`: the inbox hands a group message over
 * once it is recorded here, so a message stays durable from one store to
 * the next.
 *
 * A message is `held` while it waits for its predecessor (per-author
 * order, decided by the caller); it becomes readable when it is delivered,
 * and only then gets its `cursor`: cursors number readable messages in the
 * order they became readable, so a reader that goes on `after` its last
 * cursor never misses a message released late. `slot` numbers stored
 * messages, held or not, and names them to deliver or drop one.
 *
 * File `<data_dir>/group_messages.log` (record-log.ts framing), the kind
 * in the first byte, numbers big-endian, counters and times f64:
 *
 *   STORED    1 | slot | cursor (0: held) | received at | group 32 | author key 32 | seq u32 | envelope JCS
 *   DELIVERED 2 | slot | cursor | gap u8       (gap 1: released before its predecessor came)
 *   ACKED     3 | group 32 | through cursor
 *   DROPPED   4 | slot                         (a held message given up: its predecessor will not come, its author was revoked)
 *   FORGOTTEN 5 | group 32                     (every record of the group)
 *   COUNTERS  6 | last slot | last cursor      (compactions only: numbers never go back)
 *
 * `group` is the id's 32 base32 characters after "grp-". Records of acked,
 * dropped and forgotten messages are dead: they count for nothing in the
 * size a compaction aims at, so the file stays near what is unread.
 * Memory holds each message's header and the place of its record, not
 * its envelope, which is read back when a reader asks for it.
 */
export const GROUP_MESSAGES_FILE_NAME = 'group_messages.log';

export interface GroupMessageLimits {
  /** Held messages per group (P2P_COMM_GROUP_MAX_HELD). */
  maxHeldPerGroup: number;
  /** Readable messages not acked per group (P2P_COMM_GROUP_MAX_UNREAD): past it the caller defers its inbox. */
  maxUnreadPerGroup: number;
  /** Envelope bytes of the messages kept per group, held or readable (P2P_COMM_GROUP_MAX_STORED_BYTES). */
  maxBytesPerGroup: number;
  /**
   * Envelope bytes of the held messages per group, a part of
   * `maxBytesPerGroup` (a quarter, at least one envelope, unless given): the receive side makes room
   * before passing it, so messages that wait never fill the group and
   * never make the sender's inbox wait.
   */
  maxHeldBytesPerGroup: number;
  /** Size below which the file is never compacted (journal.ts). */
  compactionMinBytes: number;
}

export const DEFAULT_GROUP_MESSAGE_LIMITS: GroupMessageLimits = {
  maxHeldPerGroup: 1000,
  maxUnreadPerGroup: 10_000,
  maxBytesPerGroup: 64 * 1024 * 1024,
  maxHeldBytesPerGroup: 16 * 1024 * 1024,
  compactionMinBytes: DEFAULT_COMPACTION_MIN_BYTES,
};

export interface StoredGroupMessage {
  readonly slot: number;
  /** Null while held. */
  readonly cursor: number | null;
  readonly group: string;
  readonly author: string;
  readonly seq: number;
  /** The envelope's id: what tells a copy from another message under the same seq. */
  readonly id: string;
  readonly receivedAt: number;
  /** Bytes of the envelope's JCS. */
  readonly bytes: number;
  /** Made readable without its predecessor (it never came in time): the reader is told messages may be missing before it. */
  readonly gap: boolean;
}

export interface ReadGroupMessage extends StoredGroupMessage {
  readonly cursor: number;
  readonly envelope: GroupEnvelope;
}

export interface GroupCounts {
  held: number;
  unread: number;
  bytes: number;
  /** Bytes of the held messages, counted in `bytes` too. */
  heldBytes: number;
  /** Cursors up to this one were acked. */
  ackedThrough: number;
}

type Entry = { -readonly [K in keyof StoredGroupMessage]: StoredGroupMessage[K] } & {
  /** Where the STORED record is: the envelope is read from there. */
  place: RecordPlace;
  /** A DELIVERED record follows the STORED one (delivered after it was stored held). */
  deliveredLater: boolean;
  /** Bytes of its records in the file. */
  recordBytes: number;
};

interface GroupEntries {
  messages: Map<number, Entry>;
  /** `${author} ${seq}` → its message. */
  bySeq: Map<string, Entry>;
  held: number;
  unread: number;
  bytes: number;
  heldBytes: number;
  ackedThrough: number;
}

type LogRecord =
  | { kind: 'stored'; slot: number; cursor: number; at: number; group: string; author: string; seq: number; json: Uint8Array; envelope: GroupEnvelope }
  | { kind: 'delivered'; slot: number; cursor: number; gap: boolean }
  | { kind: 'acked'; group: string; through: number }
  | { kind: 'dropped'; slot: number }
  | { kind: 'forgotten'; group: string }
  | { kind: 'counters'; slot: number; cursor: number };

const KIND_CODES = { stored: 1, delivered: 2, acked: 3, dropped: 4, forgotten: 5, counters: 6 } as const;
const GROUP_BYTES = 32;
const STORED_HEADER_BYTES = 1 + 8 + 8 + 8 + GROUP_BYTES + 32 + 4;
const ACKED_BYTES = 1 + GROUP_BYTES + 8;
const COUNTERS_BYTES = 1 + 8 + 8;

export class GroupMessageLog {
  private readonly groups = new Map<string, GroupEntries>();
  private readonly bySlot = new Map<number, Entry>();
  private lastSlot = 0;
  private lastCursor = 0;
  /** Bytes of the records of the messages kept: with the ACKED and COUNTERS records, what a compacted file holds. */
  private entryBytes = 0;
  private readonly journal: Journal;
  /** Changes run one after another: each checks limits and numbers against what the one before left. */
  private queue: Promise<unknown> = Promise.resolve();
  private changesUnderWay = 0;

  private constructor(
    dataDir: string,
    readonly limits: GroupMessageLimits,
    private readonly now: () => number,
  ) {
    this.journal = Journal.open(
      join(dataDir, GROUP_MESSAGES_FILE_NAME),
      {
        name: 'unread group message log',
        costOfMovingAway: 'the group messages not read yet are then lost',
        maxRecordBytes: STORED_HEADER_BYTES + MAX_ENVELOPE_BYTES,
        compactionMinBytes: limits.compactionMinBytes,
      },
      decodeRecord,
      (record, place) => this.apply(record, place),
    );
  }

  static open(dataDir: string, limits: Partial<GroupMessageLimits> = {}, now: () => number = Date.now): GroupMessageLog {
    const merged = { ...DEFAULT_GROUP_MESSAGE_LIMITS, ...limits };
    // A quarter, yet room for the largest envelope: a message that could never be held would wait in the inbox for ever.
    if (limits.maxHeldBytesPerGroup === undefined) merged.maxHeldBytesPerGroup = Math.min(merged.maxBytesPerGroup, Math.max(Math.floor(merged.maxBytesPerGroup / 4), MAX_ENVELOPE_BYTES));
    return new GroupMessageLog(dataDir, merged, now);
  }

  /** The message this author sent under this seq, if it is kept. */
  find(group: string, author: string, seq: number): StoredGroupMessage | undefined {
    return this.groups.get(group)?.bySeq.get(`${author} ${seq}`);
  }

  /** The readable messages of a group not acked yet, in cursor order. */
  readable(group: string): StoredGroupMessage[] {
    return [...(this.groups.get(group)?.messages.values() ?? [])].filter((entry) => entry.cursor !== null).sort((a, b) => (a.cursor as number) - (b.cursor as number));
  }

  /** The held messages of a group, oldest first. */
  held(group: string): StoredGroupMessage[] {
    return [...(this.groups.get(group)?.messages.values() ?? [])].filter((entry) => entry.cursor === null).sort((a, b) => a.slot - b.slot);
  }

  counts(group: string): GroupCounts {
    const entries = this.groups.get(group);
    return { held: entries?.held ?? 0, unread: entries?.unread ?? 0, bytes: entries?.bytes ?? 0, heldBytes: entries?.heldBytes ?? 0, ackedThrough: entries?.ackedThrough ?? 0 };
  }

  /** The groups with anything kept or acked. */
  groupIds(): string[] {
    return [...this.groups.keys()];
  }

  /**
   * Keeps an envelope, held or readable. The same message again (a replay
   * of the inbox after a crash) is the message kept; another under a kept
   * seq is a CONFLICT (`seq_reused`). A group at one of its limits refuses
   * it (LIMIT_REACHED): the caller leaves it in its inbox for later.
   */
  store(envelope: GroupEnvelope, options: { held: boolean }): Promise<StoredGroupMessage> {
    return this.serially(async () => {
      const json = storedJson(envelope);
      const known = this.find(envelope.group, envelope.author, envelope.seq);
      if (known !== undefined) {
        if (known.id === envelope.id) return known;
        throw new P2pError('CONFLICT', `seq_reused: ${envelope.author} sent message ${envelope.id} to ${envelope.group} under seq ${envelope.seq}, which message ${known.id} has`);
      }
      this.checkRoom(envelope.group, json.length, options.held);
      const record: LogRecord = {
        kind: 'stored',
        slot: this.lastSlot + 1,
        cursor: options.held ? 0 : this.lastCursor + 1,
        at: this.now(),
        group: envelope.group,
        author: envelope.author,
        seq: envelope.seq,
        json,
        envelope,
      };
      await this.commit(record);
      return this.bySlot.get(record.slot) as Entry;
    });
  }

  /** A held message becomes readable, with the next cursor (`gap`: without its predecessor); one readable already is left as it is. */
  deliver(slot: number, options: { gap: boolean } = { gap: false }): Promise<StoredGroupMessage> {
    return this.serially(async () => {
      const entry = this.entry(slot);
      if (entry.cursor !== null) return entry;
      await this.commit({ kind: 'delivered', slot, cursor: this.lastCursor + 1, gap: options.gap });
      return entry;
    });
  }

  /** Gives up a held message; a message no longer kept is no error (dropped or acked before). */
  drop(slot: number): Promise<void> {
    return this.serially(async () => {
      const entry = this.bySlot.get(slot);
      if (entry === undefined) return;
      if (entry.cursor !== null) throw new P2pError('CONFLICT', `message ${slot} is readable already: a reader acks it, nothing drops it`);
      await this.commit({ kind: 'dropped', slot });
    });
  }

  /** Acks the readable messages of a group up to this cursor; returns how many went. */
  ack(group: string, through: number): Promise<number> {
    return this.serially(async () => {
      if (!Number.isSafeInteger(through) || through < 0) throw new P2pError('INVALID_INPUT', `a cursor is a whole number >= 0, not ${through}`);
      if (through > this.lastCursor) throw new P2pError('INVALID_INPUT', `cursor ${through} was never given out (the last is ${this.lastCursor})`);
      const entries = this.groups.get(group);
      if (entries === undefined || through <= entries.ackedThrough) return 0;
      const before = entries.unread;
      await this.commit({ kind: 'acked', group, through });
      return before - entries.unread;
    });
  }

  /** Drops every message of a group: one this node is done with. */
  forgetGroup(group: string): Promise<void> {
    return this.serially(async () => {
      if (!this.groups.has(group)) return;
      await this.commit({ kind: 'forgotten', group });
    });
  }

  /** Readable messages after `after` (and after what was acked), in cursor order, with their envelopes. */
  async read(group: string, after: number, limit: number): Promise<ReadGroupMessage[]> {
    const entries = this.groups.get(group);
    if (entries === undefined) return [];
    const from = Math.max(after, entries.ackedThrough);
    const wanted = [...entries.messages.values()]
      .filter((entry): entry is Entry & { cursor: number } => entry.cursor !== null && entry.cursor > from)
      .sort((a, b) => a.cursor - b.cursor)
      .slice(0, limit);
    const envelopes = await this.envelopes(wanted);
    return wanted.map((entry, index) => {
      const { slot, cursor, author, seq, id, receivedAt, bytes, gap } = entry;
      return { slot, cursor, group, author, seq, id, receivedAt, bytes, gap, envelope: envelopes[index] as GroupEnvelope };
    });
  }

  /** The envelopes of messages kept (held or readable), read from the file, in the order asked. */
  async envelopes(messages: readonly StoredGroupMessage[]): Promise<GroupEnvelope[]> {
    const places = messages.map((message) => this.entry(message.slot).place);
    const bodies = await this.journal.read(places);
    return messages.map((message, index) => {
      const body = bodies[index];
      if (body instanceof Error) throw body;
      const record = decodeRecord(body as Uint8Array);
      if (record.kind !== 'stored') throw new P2pError('STATE_FILE_CORRUPT', `the record of group message ${message.slot} is no longer a stored message`);
      return record.envelope;
    });
  }

  /** Waits for the changes under way; with none, the file is let go at once. */
  close(): Promise<void> {
    if (this.changesUnderWay === 0) return this.journal.close();
    return this.queue.then(() => this.journal.close());
  }

  private serially<T>(change: () => Promise<T>): Promise<T> {
    this.changesUnderWay += 1;
    const result = this.queue.then(change).finally(() => {
      this.changesUnderWay -= 1;
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  private checkRoom(group: string, bytes: number, held: boolean): void {
    const counts = this.counts(group);
    if (held && counts.held >= this.limits.maxHeldPerGroup) {
      throw new P2pError('LIMIT_REACHED', `${counts.held} messages of ${group} wait for earlier ones, the most held per group (P2P_COMM_GROUP_MAX_HELD)`);
    }
    if (held && counts.heldBytes + bytes > this.limits.maxHeldBytesPerGroup) {
      throw new P2pError('LIMIT_REACHED', `the messages of ${group} that wait for earlier ones take ${counts.heldBytes} bytes; ${bytes} more exceed the ${this.limits.maxHeldBytesPerGroup} allowed (a quarter of P2P_COMM_GROUP_MAX_STORED_BYTES)`);
    }
    if (!held && counts.unread >= this.limits.maxUnreadPerGroup) {
      throw new P2pError('LIMIT_REACHED', `${counts.unread} messages of ${group} are not acked, the most per group (P2P_COMM_GROUP_MAX_UNREAD): read and ack them with group_receive`);
    }
    if (counts.bytes + bytes > this.limits.maxBytesPerGroup) {
      throw new P2pError('LIMIT_REACHED', `the messages of ${group} kept take ${counts.bytes} bytes; ${bytes} more exceed the ${this.limits.maxBytesPerGroup} allowed per group (P2P_COMM_GROUP_MAX_STORED_BYTES)`);
    }
  }

  private entry(slot: number): Entry {
    const entry = this.bySlot.get(slot);
    if (entry === undefined) throw new P2pError('NOT_FOUND', `no group message ${slot} is kept`);
    return entry;
  }

  private async commit(record: LogRecord): Promise<void> {
    const compaction = this.journal.compactIfDue(this.liveBytes(), () => this.snapshot());
    if (compaction !== undefined) await compaction;
    await this.journal.commit(encodeRecord(record), (place) => this.apply(record, place));
  }

  private liveBytes(): number {
    return this.entryBytes + this.groups.size * ACKED_BYTES + COUNTERS_BYTES;
  }

  /** Every kept message (its STORED record carried over by place, a DELIVERED beside it), each group's ack, and the counters. */
  private snapshot(): RewriteEntry[] {
    const entries: RewriteEntry[] = [encodeRecord({ kind: 'counters', slot: this.lastSlot, cursor: this.lastCursor })];
    this.entryBytes = 0;
    for (const [group, { messages, ackedThrough }] of this.groups) {
      if (ackedThrough > 0) entries.push(encodeRecord({ kind: 'acked', group, through: ackedThrough }));
      for (const entry of messages.values()) {
        entries.push(entry.place);
        entry.recordBytes = entry.place.length;
        if (entry.deliveredLater) {
          const delivered = encodeRecord({ kind: 'delivered', slot: entry.slot, cursor: entry.cursor as number, gap: entry.gap });
          entries.push(delivered);
          entry.recordBytes += delivered.length;
        }
        this.entryBytes += entry.recordBytes;
      }
    }
    return entries;
  }

  /** Replays trust the file: a record for a message no longer kept is skipped. */
  private apply(record: LogRecord, place: RecordPlace): void {
    switch (record.kind) {
      case 'stored': {
        const entries = this.groupEntries(record.group);
        const entry: Entry = {
          slot: record.slot,
          cursor: record.cursor === 0 ? null : record.cursor,
          group: record.group,
          author: record.author,
          seq: record.seq,
          id: record.envelope.id,
          receivedAt: record.at,
          bytes: record.json.length,
          place,
          gap: false,
          deliveredLater: false,
          recordBytes: place.length,
        };
        // Only a damaged file holds a slot or a seq twice: the later record stands.
        this.forgetEntry(this.bySlot.get(record.slot));
        this.forgetEntry(entries.bySeq.get(`${record.author} ${record.seq}`));
        entries.messages.set(entry.slot, entry);
        entries.bySeq.set(`${entry.author} ${entry.seq}`, entry);
        this.bySlot.set(entry.slot, entry);
        if (entry.cursor === null) {
          entries.held += 1;
          entries.heldBytes += entry.bytes;
        } else entries.unread += 1;
        entries.bytes += entry.bytes;
        this.entryBytes += entry.recordBytes;
        this.lastSlot = Math.max(this.lastSlot, record.slot);
        this.lastCursor = Math.max(this.lastCursor, record.cursor);
        // A message stored readable under an ack already recorded (a replay after a compaction) is read already.
        if (entry.cursor !== null && entry.cursor <= entries.ackedThrough) this.forgetEntry(entry);
        break;
      }
      case 'delivered': {
        this.lastCursor = Math.max(this.lastCursor, record.cursor);
        const entry = this.bySlot.get(record.slot);
        if (entry === undefined || entry.cursor !== null) break;
        const entries = this.groupEntries(entry.group);
        entry.cursor = record.cursor;
        entry.gap = record.gap;
        entry.deliveredLater = true;
        entry.recordBytes += place.length;
        this.entryBytes += place.length;
        entries.held -= 1;
        entries.heldBytes -= entry.bytes;
        entries.unread += 1;
        break;
      }
      case 'acked': {
        const entries = this.groupEntries(record.group);
        entries.ackedThrough = Math.max(entries.ackedThrough, record.through);
        for (const entry of [...entries.messages.values()]) if (entry.cursor !== null && entry.cursor <= entries.ackedThrough) this.forgetEntry(entry);
        break;
      }
      case 'dropped':
        this.forgetEntry(this.bySlot.get(record.slot));
        break;
      case 'forgotten': {
        const entries = this.groups.get(record.group);
        if (entries === undefined) break;
        for (const entry of [...entries.messages.values()]) this.forgetEntry(entry);
        this.groups.delete(record.group);
        break;
      }
      case 'counters':
        this.lastSlot = Math.max(this.lastSlot, record.slot);
        this.lastCursor = Math.max(this.lastCursor, record.cursor);
        break;
    }
  }

  /** Takes a message out of memory: its records are dead from here on. */
  private forgetEntry(entry: Entry | undefined): void {
    if (entry === undefined) return;
    const entries = this.groupEntries(entry.group);
    entries.messages.delete(entry.slot);
    entries.bySeq.delete(`${entry.author} ${entry.seq}`);
    this.bySlot.delete(entry.slot);
    if (entry.cursor === null) {
      entries.held -= 1;
      entries.heldBytes -= entry.bytes;
    } else entries.unread -= 1;
    entries.bytes -= entry.bytes;
    this.entryBytes -= entry.recordBytes;
  }

  private groupEntries(group: string): GroupEntries {
    let entries = this.groups.get(group);
    if (entries === undefined) {
      entries = { messages: new Map(), bySeq: new Map(), held: 0, unread: 0, bytes: 0, heldBytes: 0, ackedThrough: 0 };
      this.groups.set(group, entries);
    }
    return entries;
  }
}

/** An envelope as the log keeps it (JCS): its length is what the byte limits count. */
export function storedJson(envelope: GroupEnvelope): Buffer {
  return Buffer.from(canonicalJson(envelope), 'utf8');
}

function encodeRecord(record: LogRecord): Uint8Array {
  switch (record.kind) {
    case 'stored':
      return new RecordWriter(STORED_HEADER_BYTES + record.json.length)
        .u8(KIND_CODES.stored)
        .uint(record.slot)
        .uint(record.cursor)
        .uint(record.at)
        .latin1(groupBytesOf(record.group))
        .bytes(cachedPublicKeyFromPeerId(record.author))
        .u32(record.seq)
        .bytes(record.json)
        .finish();
    case 'delivered':
      return new RecordWriter(1 + 16 + 1).u8(KIND_CODES.delivered).uint(record.slot).uint(record.cursor).u8(record.gap ? 1 : 0).finish();
    case 'acked':
      return new RecordWriter(ACKED_BYTES).u8(KIND_CODES.acked).latin1(groupBytesOf(record.group)).uint(record.through).finish();
    case 'dropped':
      return new RecordWriter(1 + 8).u8(KIND_CODES.dropped).uint(record.slot).finish();
    case 'forgotten':
      return new RecordWriter(1 + GROUP_BYTES).u8(KIND_CODES.forgotten).latin1(groupBytesOf(record.group)).finish();
    case 'counters':
      return new RecordWriter(COUNTERS_BYTES).u8(KIND_CODES.counters).uint(record.slot).uint(record.cursor).finish();
  }
}

/**
 * Strict: the envelope is read by the wire rules and must be the one its
 * header names, so that what the file holds is what a peer could have
 * sent, whatever changed it. Throws, naming the problem.
 */
function decodeRecord(body: Uint8Array): LogRecord {
  const reader = new RecordReader(body);
  const kind = reader.u8();
  let record: LogRecord;
  switch (kind) {
    case KIND_CODES.stored: {
      if (body.length <= STORED_HEADER_BYTES) throw new Error('it ends before its envelope');
      const slot = positive(reader.uint(), 'slot');
      const cursor = reader.uint();
      const at = reader.uint();
      const group = groupOf(reader.bytes(GROUP_BYTES));
      const author = peerIdFromPublicKey(reader.bytes(32));
      const seq = reader.u32();
      const json = reader.bytes(body.length - STORED_HEADER_BYTES);
      const envelope = envelopeOf(json);
      if (envelope.group !== group || envelope.author !== author || envelope.seq !== seq) throw new Error('its envelope is not the message its header names');
      return { kind: 'stored', slot, cursor, at, group, author, seq, json, envelope };
    }
    case KIND_CODES.delivered:
      record = { kind: 'delivered', slot: positive(reader.uint(), 'slot'), cursor: positive(reader.uint(), 'cursor'), gap: flag(reader.u8(), 'gap') };
      break;
    case KIND_CODES.acked:
      record = { kind: 'acked', group: groupOf(reader.bytes(GROUP_BYTES)), through: reader.uint() };
      break;
    case KIND_CODES.dropped:
      record = { kind: 'dropped', slot: positive(reader.uint(), 'slot') };
      break;
    case KIND_CODES.forgotten:
      record = { kind: 'forgotten', group: groupOf(reader.bytes(GROUP_BYTES)) };
      break;
    case KIND_CODES.counters:
      record = { kind: 'counters', slot: reader.uint(), cursor: reader.uint() };
      break;
    default:
      throw new Error(`its kind ${kind} is none of 1 to 6`);
  }
  reader.finish();
  return record;
}

function envelopeOf(json: Uint8Array): GroupEnvelope {
  try {
    return readGroupEnvelope(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json)));
  } catch (error) {
    if (error instanceof GroupFormatError || error instanceof SyntaxError || error instanceof TypeError) throw new Error(`its envelope is not one: ${error.message}`);
    throw error;
  }
}

function flag(value: number, what: string): boolean {
  if (value > 1) throw new Error(`its ${what} flag is ${value}, neither 0 nor 1`);
  return value === 1;
}

function positive(value: number, what: string): number {
  if (value === 0) throw new Error(`its ${what} is 0`);
  return value;
}

/** The id's base32 part, 32 ASCII bytes. */
function groupBytesOf(group: string): string {
  if (!GROUP_ID_PATTERN.test(group)) throw new RangeError(`${JSON.stringify(group)} is not a group id`);
  return group.slice('grp-'.length);
}

function groupOf(bytes: Uint8Array): string {
  const group = `grp-${Buffer.from(bytes).toString('latin1')}`;
  if (!GROUP_ID_PATTERN.test(group)) throw new Error('it names no group');
  return group;
}
