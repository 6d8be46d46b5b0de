import { join } from 'node:path';
import { hexOf } from '../common/hex';
import { P2pError } from '../common/errors';
import { FifoMap } from './fifo-map';
import { DEFAULT_COMPACTION_MIN_BYTES, Journal } from './journal';
import { checkMessageFields, codeOf, type MessageType, messageFieldsBytes, readMessageFields, writeMessageFields } from './record-fields';
import { DEFAULT_LAZY_FLUSH_MS, RECORD_HEADER_BYTES, RecordReader, RecordWriter } from './record-log';

/**
 * Messages this node sends, from `send` until they are delivered, expire or
 * fail. The state lives in memory and every change is appended to a
 * RecordLog. A new message is visible at once, so that it can be signed and
 * sent while its record is written, and `add` resolves once it is on disk;
 * if that write fails the message is taken out again. A state change is
 * applied once it is on disk, except a lazy one (see update), applied at
 * once and written with a later write. A final state is kept (without its
 * content) for a while so that `message_status` can still answer, then
 * forgotten.
 *
 * File `<data_dir>/outbox.log` (see record-log.ts for the framing). Bodies,
 * integers big-endian, times in ms since 1970 as float64, ids as raw bytes,
 * Fields as in record-fields.ts:
 *
 *   ADD    1 u8 | Fields | created at f64 | expires at f64 | content length u32 | content
 *   STATE  2 u8 | message id 16 | State
 *   FINAL  3 u8 | Fields | created at f64 | expires at f64 | State
 *   DELIVERED  4 u8 | updated at f64 | count u32 | (message id 16 | attempts u32) × count
 *
 *   State  = state u8 (0 queued, 1 sent, 2 delivered, 3 expired, 4 failed) | attempts u32
 *            | updated at f64 | reason u8 (0: none, 1: present) [| length u32 | UTF-8]
 *
 * ADD starts a message as queued, with no attempts and no reason; STATE
 * replaces those; a STATE for a message that is final or forgotten is
 * ignored. FINAL is a retained final state: compaction writes it, and ADD
 * followed by STATE for each pending message. DELIVERED is, for each message
 * it lists, what a STATE 'delivered' with these attempts, no reason and
 * this time would be: one record for all the messages one receipt settles.
 */
export type OutgoingState = 'queued' | 'sent' | 'delivered' | 'expired' | 'failed';

export interface OutgoingMessage {
  /** 32 lower-case hex characters. */
  readonly messageId: string;
  /** The recipient. */
  readonly peerId: string;
  readonly type: MessageType;
  readonly correlationId: string | null;
  /** The payload (UTF-8 text or UTF-8 JSON); empty once the message is final. */
  readonly content: Uint8Array;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly state: OutgoingState;
  readonly updatedAt: Date;
  /** Why it failed or expired, or the last retryable refusal. */
  readonly reason: string | null;
  readonly attempts: number;
}

export interface NewOutgoingMessage {
  messageId: string;
  peerId: string;
  type: MessageType;
  correlationId: string | null;
  content: Uint8Array;
  ttlMs: number;
}

export interface OutgoingChange {
  state?: OutgoingState;
  reason?: string | null;
  attempts?: number;
}

/** A message the peer's receipt covers without an exception, and its attempts by now. */
export interface Delivery {
  messageId: string;
  attempts: number;
}

export interface OutboxLimits {
  /** Pending (queued or sent) messages per peer; beyond this `add` is refused. */
  maxMessagesPerPeer: number;
  /** Pending content bytes per peer; beyond this `add` is refused. */
  maxBytesPerPeer: number;
  /** How long a final state is remembered. */
  finalStateRetentionMs: number;
  /** Final states remembered; beyond this the oldest is forgotten. */
  maxFinalStates: number;
  /** Largest record in the file: the largest message plus its fields. */
  maxRecordBytes: number;
  /** Longest a lazy state change waits for a write to carry it before it is written alone. */
  lazyFlushMs: number;
  /** Size of the file below which it is never compacted. */
  compactionMinBytes: number;
}

export const DEFAULT_OUTBOX_LIMITS: OutboxLimits = {
  maxMessagesPerPeer: 10_000,
  maxBytesPerPeer: 256 * 1024 * 1024,
  finalStateRetentionMs: 7 * 24 * 3600 * 1000,
  maxFinalStates: 10_000,
  maxRecordBytes: 1024 * 1024 + 4096,
  lazyFlushMs: DEFAULT_LAZY_FLUSH_MS,
  compactionMinBytes: DEFAULT_COMPACTION_MIN_BYTES,
};

export const OUTBOX_FILE_NAME = 'outbox.log';

const STATES: readonly OutgoingState[] = ['queued', 'sent', 'delivered', 'expired', 'failed'];

const ADD = 1;
const STATE = 2;
const FINAL = 3;
const DELIVERED = 4;

const NO_CONTENT = new Uint8Array(0);

/** created at and expires at. */
const TIMES_BYTES = 8 + 8;

/** kind, updated at, count. */
const DELIVERED_HEADER_BYTES = 1 + 8 + 4;
/** message id, attempts. */
const DELIVERY_BYTES = 16 + 4;

type StateChange = Pick<OutgoingMessage, 'state' | 'reason' | 'attempts' | 'updatedAt'>;

type OutboxRecord =
  | { kind: 'message'; message: OutgoingMessage }
  | { kind: 'state'; messageId: string; change: StateChange }
  | { kind: 'delivered'; updatedAt: Date; deliveries: Delivery[] };

/** A peer's pending messages in send order. */
interface PeerQueue {
  messages: Map<string, OutgoingMessage>;
  bytes: number;
}

export class OutboxStore {
  /** Pending and retained final messages. */
  private readonly messages = new Map<string, OutgoingMessage>();
  private readonly queues = new Map<string, PeerQueue>();
  /** Final messages in the order they became final, which is the order they are forgotten in. */
  private readonly finals = new FifoMap<string, OutgoingMessage>();
  /**
   * Messages whose ADD is still being written: visible, but not in a
   * compaction's snapshot, which carries their record from the old file
   * instead (Journal.compact).
   */
  private readonly undurable = new Set<string>();
  /** Messages a sweep is moving to a final state right now. */
  private readonly finishing = new Set<string>();
  /** What a compacted file would hold, in bytes. */
  private liveBytes = 0;
  private readonly journal: Journal;

  /** Replays the file into the state above, which is in place by now. */
  private constructor(
    dataDir: string,
    private readonly limits: OutboxLimits,
    /** Milliseconds since 1970: a number, as the store asks for the time on every call and keeps a Date only per message. */
    private readonly now: () => number,
  ) {
    this.journal = Journal.open(
      join(dataDir, OUTBOX_FILE_NAME),
      {
        name: 'outbox',
        costOfMovingAway: 'the messages in it are then neither sent nor reported',
        maxRecordBytes: limits.maxRecordBytes,
        lazyFlushMs: limits.lazyFlushMs,
        compactionMinBytes: limits.compactionMinBytes,
      },
      decodeRecord,
      (record) => this.apply(record),
    );
  }

  static open(dataDir: string, limits: Partial<OutboxLimits> = {}, now: () => number = Date.now): OutboxStore {
    const store = new OutboxStore(dataDir, { ...DEFAULT_OUTBOX_LIMITS, ...limits }, now);
    store.forgetExpiredFinals();
    return store;
  }

  /**
   * Queues the message: get and pendingFor return it, queued, from the
   * moment this is called (unless it throws, or a compaction is due, which
   * runs first), and the promise resolves once it is on disk, with the
   * message as it is by then. If the write fails the message is taken out
   * again, whatever happened to it meanwhile, and the promise rejects: the
   * log takes no more writes then, so no later record can bring it back.
   */
  async add(message: NewOutgoingMessage): Promise<OutgoingMessage> {
    checkMessageFields(message);
    if (!Number.isSafeInteger(message.ttlMs) || message.ttlMs <= 0) {
      throw new P2pError('INVALID_INPUT', `a time to live is a whole number of milliseconds above 0, got ${message.ttlMs}`);
    }
    // Only when one is due; otherwise the message is queued and its write asked for in this same step.
    const compaction = this.compactIfDue();
    if (compaction !== undefined) await compaction;
    this.forgetExpiredFinals();
    if (this.messages.has(message.messageId)) {
      throw new P2pError('CONFLICT', `message id ${message.messageId} is already in the outbox; every message needs a new id`);
    }
    this.assertRoomFor(message.peerId, message.content.length);
    const createdAtMs = this.now();
    const createdAt = new Date(createdAtMs);
    const queued: OutgoingMessage = {
      messageId: message.messageId,
      peerId: message.peerId,
      type: message.type,
      correlationId: message.correlationId,
      content: new Uint8Array(message.content),
      createdAt,
      expiresAt: new Date(createdAtMs + message.ttlMs),
      state: 'queued',
      updatedAt: createdAt,
      reason: null,
      attempts: 0,
    };
    // Asked for before the message is visible, so every record about it that follows lands after it in the log.
    const written = this.journal.commit(encodeAdd(queued), () => undefined);
    this.apply({ kind: 'message', message: queued });
    this.undurable.add(queued.messageId);
    try {
      await written;
    } catch (error) {
      this.forget(queued.messageId);
      throw error;
    } finally {
      this.undurable.delete(queued.messageId);
    }
    return this.messages.get(queued.messageId) ?? queued;
  }

  /**
   * Resolves once the change is on disk. A final state is never changed:
   * the message comes back as it is. A change to a message whose add is
   * still being written lands after the add in the log, and is lost with it
   * if that write fails.
   */
  async update(messageId: string, change: OutgoingChange): Promise<OutgoingMessage> {
    this.forgetExpiredFinals();
    const current = this.messages.get(messageId);
    if (current === undefined) throw notFound(messageId);
    if (isFinal(current.state)) return current;
    if (change.attempts !== undefined) assertAttempts(change.attempts);
    const next: StateChange = {
      state: change.state ?? current.state,
      reason: change.reason === undefined ? current.reason : change.reason,
      attempts: change.attempts ?? current.attempts,
      updatedAt: new Date(this.now()),
    };
    const record: OutboxRecord = { kind: 'state', messageId, change: next };
    await this.compactIfDue();
    const updated = await this.journal.commit(encodeState(messageId, next), () => this.apply(record));
    // Forgotten meanwhile: only when other messages pushed its final state out, or its add failed.
    if (updated === undefined) throw notFound(messageId);
    return updated;
  }

  /**
   * Marks these messages delivered, each with its attempts, lazily: applied
   * at once, written with the next write or within lazyFlushMs, and lost if
   * the process dies before, which only means the messages are offered
   * again, and their receiver drops the copies. One record covers them all,
   * where an update each would cost a record each: a receipt settles many
   * messages at once. A message that is final or forgotten is left as it
   * is. Throws, applying nothing, when the log takes no more writes.
   */
  markDelivered(deliveries: readonly Delivery[]): void {
    this.forgetExpiredFinals();
    const pending = deliveries.filter(({ messageId }) => {
      const current = this.messages.get(messageId);
      return current !== undefined && !isFinal(current.state);
    });
    if (pending.length === 0) return;
    for (const { attempts } of pending) assertAttempts(attempts);
    const updatedAt = new Date(this.now());
    // As many per record as the largest record holds; every record is encoded before the first is handed over.
    const perRecord = Math.max(1, Math.floor((this.limits.maxRecordBytes - DELIVERED_HEADER_BYTES) / DELIVERY_BYTES));
    const bodies: Uint8Array[] = [];
    for (let start = 0; start < pending.length; start += perRecord) bodies.push(encodeDelivered(updatedAt, pending.slice(start, start + perRecord)));
    // Only the first can throw: whether the log takes writes does not change within this call.
    for (const body of bodies) this.journal.commitLazy(body);
    this.apply({ kind: 'delivered', updatedAt, deliveries: pending });
  }

  get(messageId: string): OutgoingMessage | undefined {
    this.forgetExpiredFinals();
    return this.messages.get(messageId);
  }

  /** Queued and sent messages to this peer, oldest first: the order to send them in. */
  pendingFor(peerId: string): OutgoingMessage[] {
    return [...(this.queues.get(peerId)?.messages.values() ?? [])];
  }

  pendingPeers(): string[] {
    return [...this.queues].filter(([, queue]) => queue.messages.size > 0).map(([peerId]) => peerId);
  }

  /** Pending messages past their expiry become 'expired' (reason 'ttl'), on disk; returns them. */
  async expireDue(): Promise<OutgoingMessage[]> {
    const now = this.now();
    const due: OutgoingMessage[] = [];
    for (const queue of this.queues.values()) {
      for (const message of queue.messages.values()) if (message.expiresAt.getTime() <= now) due.push(message);
    }
    return this.finish(due, 'expired', 'ttl');
  }

  /**
   * Every pending message to the peer, or only those of them `messageIds`
   * names (a cancelled transfer's chunks), becomes 'failed' with `reason`,
   * on disk; returns them, in send order. An id that is not pending to
   * this peer is left as it is.
   */
  failPending(peerId: string, reason: string, messageIds?: Iterable<string>): Promise<OutgoingMessage[]> {
    const named = messageIds === undefined ? null : new Set(messageIds);
    const pending = this.pendingFor(peerId);
    return this.finish(named === null ? pending : pending.filter((message) => named.has(message.messageId)), 'failed', reason);
  }

  /**
   * Moves messages to a final state. Each is returned by one call only,
   * however the calls overlap (a sweep still writing, a revocation), so
   * that each is reported once.
   */
  private async finish(messages: OutgoingMessage[], state: 'expired' | 'failed', reason: string): Promise<OutgoingMessage[]> {
    const mine = messages.filter((message) => !this.finishing.has(message.messageId));
    for (const message of mine) this.finishing.add(message.messageId);
    try {
      const updated = await Promise.all(mine.map((message) => this.update(message.messageId, { state, reason })));
      // One that reached a final state in the meantime keeps that state and its reason.
      return updated.filter((message) => message.state === state && message.reason === reason);
    } finally {
      for (const message of mine) this.finishing.delete(message.messageId);
    }
  }

  counts(): Record<OutgoingState, number> {
    this.forgetExpiredFinals();
    const counts: Record<OutgoingState, number> = { queued: 0, sent: 0, delivered: 0, expired: 0, failed: 0 };
    for (const message of this.messages.values()) counts[message.state] += 1;
    return counts;
  }

  /** Waits for the writes under way. */
  close(): Promise<void> {
    return this.journal.close();
  }

  private assertRoomFor(peerId: string, contentBytes: number): void {
    const queue = this.queues.get(peerId);
    const messages = queue?.messages.size ?? 0;
    const bytes = queue?.bytes ?? 0;
    const { maxMessagesPerPeer, maxBytesPerPeer } = this.limits;
    if (messages + 1 > maxMessagesPerPeer || bytes + contentBytes > maxBytesPerPeer) {
      throw new P2pError(
        'LIMIT_REACHED',
        `the outbox for ${peerId} already holds ${messages} undelivered messages (${bytes} bytes); it keeps at most ` +
          `${maxMessagesPerPeer} messages / ${maxBytesPerPeer} bytes per peer: wait until the peer is online and takes ` +
          'them, or until they expire, then send again',
      );
    }
  }

  /** Takes a message out of memory in whatever state it reached (its add failed). */
  private forget(messageId: string): void {
    const message = this.messages.get(messageId);
    if (message !== undefined) this.remove(message);
  }

  private compactIfDue(): Promise<void> | undefined {
    return this.journal.compactIfDue(this.liveBytes, () => this.snapshot());
  }

  /**
   * What memory holds, as records: the retained final states, then each
   * pending message as ADD and STATE; not the messages whose ADD is still
   * being written, which the compaction carries from the old file.
   */
  private snapshot(): Uint8Array[] {
    const bodies: Uint8Array[] = [];
    for (const message of this.finals.values()) if (!this.undurable.has(message.messageId)) bodies.push(encodeFinal(message));
    for (const queue of this.queues.values()) {
      for (const message of queue.messages.values()) {
        if (!this.undurable.has(message.messageId)) bodies.push(encodeAdd(message), encodeState(message.messageId, message));
      }
    }
    return bodies;
  }

  /** The one way state changes, at open and for each durable write alike. */
  private apply(record: OutboxRecord): OutgoingMessage | undefined {
    if (record.kind === 'delivered') {
      const { updatedAt } = record;
      for (const { messageId, attempts } of record.deliveries) {
        this.apply({ kind: 'state', messageId, change: { state: 'delivered', reason: null, attempts, updatedAt } });
      }
      return undefined;
    }
    if (record.kind === 'message') {
      // A message id comes back only after it was forgotten; in a replay its old entry is still here.
      const previous = this.messages.get(record.message.messageId);
      if (previous !== undefined) this.remove(previous);
      this.insert(record.message);
      return record.message;
    }
    const current = this.messages.get(record.messageId);
    if (current === undefined || isFinal(current.state)) return current;
    const final = isFinal(record.change.state);
    const next: OutgoingMessage = { ...current, ...record.change, content: final ? NO_CONTENT : current.content };
    if (final) {
      this.remove(current);
      this.insert(next);
    } else {
      // Set in place: a pending message keeps its position in the send order.
      this.messages.set(next.messageId, next);
      this.queueOf(next.peerId).messages.set(next.messageId, next);
      this.liveBytes += compactedBytes(next) - compactedBytes(current);
    }
    return next;
  }

  private insert(message: OutgoingMessage): void {
    this.messages.set(message.messageId, message);
    this.liveBytes += compactedBytes(message);
    if (isFinal(message.state)) {
      this.finals.set(message.messageId, message);
      while (this.finals.size > this.limits.maxFinalStates) this.remove((this.finals.oldest() as { value: OutgoingMessage }).value);
    } else {
      const queue = this.queueOf(message.peerId);
      queue.messages.set(message.messageId, message);
      queue.bytes += message.content.length;
    }
  }

  private remove(message: OutgoingMessage): void {
    this.messages.delete(message.messageId);
    this.liveBytes -= compactedBytes(message);
    if (isFinal(message.state)) {
      this.finals.delete(message.messageId);
    } else {
      const queue = this.queueOf(message.peerId);
      queue.messages.delete(message.messageId);
      queue.bytes -= message.content.length;
      this.dropIfIdle(message.peerId, queue);
    }
  }

  private forgetExpiredFinals(): void {
    const cutoff = this.now() - this.limits.finalStateRetentionMs;
    for (let oldest = this.finals.oldest(); oldest !== undefined && oldest.value.updatedAt.getTime() <= cutoff; oldest = this.finals.oldest()) {
      this.remove(oldest.value);
    }
  }

  private queueOf(peerId: string): PeerQueue {
    let queue = this.queues.get(peerId);
    if (queue === undefined) {
      queue = { messages: new Map(), bytes: 0 };
      this.queues.set(peerId, queue);
    }
    return queue;
  }

  private dropIfIdle(peerId: string, queue: PeerQueue): void {
    if (queue.messages.size === 0) this.queues.delete(peerId);
  }
}

/** Delivered, expired or failed: nothing changes such a message any more. */
export function isFinal(state: OutgoingState): boolean {
  return state === 'delivered' || state === 'expired' || state === 'failed';
}

function assertAttempts(attempts: number): void {
  if (!(Number.isInteger(attempts) && attempts >= 0 && attempts <= 0xffffffff)) {
    throw new P2pError('INVALID_INPUT', `attempts is a whole number from 0 to 4294967295, got ${attempts}`);
  }
}

function notFound(messageId: string): P2pError {
  return new P2pError(
    'NOT_FOUND',
    `no message in the outbox has the id ${messageId}; final states are forgotten after a while (message_status answers for recent ones)`,
  );
}

function stateBytes(change: StateChange): number {
  return 1 + 4 + 8 + 1 + (change.reason === null ? 0 : 4 + Buffer.byteLength(change.reason, 'utf8'));
}

function addBytes(message: OutgoingMessage): number {
  return 1 + messageFieldsBytes(message) + TIMES_BYTES + 4 + message.content.length;
}

function stateRecordBytes(change: StateChange): number {
  return 1 + 16 + stateBytes(change);
}

function finalBytes(message: OutgoingMessage): number {
  return 1 + messageFieldsBytes(message) + TIMES_BYTES + stateBytes(message);
}

/** What a message takes in a compacted file: ADD and STATE while pending, FINAL after. */
function compactedBytes(message: OutgoingMessage): number {
  if (isFinal(message.state)) return RECORD_HEADER_BYTES + finalBytes(message);
  return 2 * RECORD_HEADER_BYTES + addBytes(message) + stateRecordBytes(message);
}

function encodeAdd(message: OutgoingMessage): Uint8Array {
  const writer = writeMessageFields(new RecordWriter(addBytes(message)).u8(ADD), message);
  return writeTimes(writer, message).u32(message.content.length).bytes(message.content).finish();
}

function encodeState(messageId: string, change: StateChange): Uint8Array {
  const writer = new RecordWriter(stateRecordBytes(change)).u8(STATE).hex(messageId, 16);
  return writeState(writer, change).finish();
}

function encodeFinal(message: OutgoingMessage): Uint8Array {
  const writer = writeMessageFields(new RecordWriter(finalBytes(message)).u8(FINAL), message);
  return writeState(writeTimes(writer, message), message).finish();
}

function encodeDelivered(updatedAt: Date, deliveries: readonly Delivery[]): Uint8Array {
  const writer = new RecordWriter(DELIVERED_HEADER_BYTES + deliveries.length * DELIVERY_BYTES).u8(DELIVERED).uint(updatedAt.getTime()).u32(deliveries.length);
  for (const { messageId, attempts } of deliveries) writer.hex(messageId, 16).u32(attempts);
  return writer.finish();
}

function writeTimes(writer: RecordWriter, message: OutgoingMessage): RecordWriter {
  return writer.uint(message.createdAt.getTime()).uint(message.expiresAt.getTime());
}

function writeState(writer: RecordWriter, change: StateChange): RecordWriter {
  writer.u8(STATES.indexOf(change.state)).u32(change.attempts).uint(change.updatedAt.getTime());
  if (change.reason === null) return writer.u8(0);
  const reason = Buffer.from(change.reason, 'utf8');
  return writer.u8(1).u32(reason.length).bytes(reason);
}

function decodeRecord(body: Uint8Array): OutboxRecord {
  const reader = new RecordReader(body);
  const kind = reader.u8();
  let record: OutboxRecord;
  if (kind === ADD) {
    const fields = readMessageFields(reader);
    const createdAt = new Date(reader.uint());
    const expiresAt = new Date(reader.uint());
    const content = reader.bytes(reader.u32());
    record = {
      kind: 'message',
      message: { ...fields, content, createdAt, expiresAt, state: 'queued', updatedAt: createdAt, reason: null, attempts: 0 },
    };
  } else if (kind === STATE) {
    const messageId = hexOf(reader.bytes(16));
    record = { kind: 'state', messageId, change: readState(reader) };
  } else if (kind === FINAL) {
    const fields = readMessageFields(reader);
    const createdAt = new Date(reader.uint());
    const expiresAt = new Date(reader.uint());
    const change = readState(reader);
    if (!isFinal(change.state)) throw new Error(`it keeps the pending state ${change.state}`);
    record = { kind: 'message', message: { ...fields, content: NO_CONTENT, createdAt, expiresAt, ...change } };
  } else if (kind === DELIVERED) {
    const updatedAt = new Date(reader.uint());
    const count = reader.u32();
    const deliveries: Delivery[] = [];
    // Each entry checks that it is there, so a count the body cannot hold fails at its end, not with a huge allocation.
    for (let index = 0; index < count; index += 1) deliveries.push({ messageId: hexOf(reader.bytes(16)), attempts: reader.u32() });
    record = { kind: 'delivered', updatedAt, deliveries };
  } else {
    throw new Error(`its kind is ${kind}`);
  }
  reader.finish();
  return record;
}

function readState(reader: RecordReader): StateChange {
  const state = codeOf(STATES, reader.u8(), 'message state');
  const attempts = reader.u32();
  const updatedAt = new Date(reader.uint());
  const hasReason = codeOf([false, true], reader.u8(), 'reason flag');
  const reason = hasReason ? Buffer.from(reader.bytes(reader.u32())).toString('utf8') : null;
  return { state, attempts, updatedAt, reason };
}
