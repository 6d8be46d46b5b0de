import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { P2pError } from '../common/errors';
import { peerIdFromPublicKey, publicKeyFromPeerId } from '../common/peer-id';
import { Journal } from './journal';
import { checkMessageFields, type MessageType, messageFieldsBytes, readMessageFields, writeMessageFields } from './record-fields';
import { RECORD_HEADER_BYTES, RecordReader, RecordWriter } from './record-log';

/**
 * Messages received from peers, stored durably before the sender is told
 * they arrived, until the local agent acks them. Each gets a cursor, one
 * sequence across all peers that never goes back, also across restarts.
 *
 * Besides the messages, the inbox remembers every message it stored within
 * seenRetentionMs, acked or not: its id (the duplicate check) and its
 * sender's nonce (the replay check). Those are never evicted early, since
 * that would reopen a replay window; when there are too many, new messages
 * are refused instead.
 *
 * The state lives in memory and every change is appended to a RecordLog
 * before it is applied, so what a caller can see is always on disk. File
 * `<data_dir>/inbox.log` (see record-log.ts for the framing). Bodies,
 * integers big-endian, times in ms since 1970 and cursors as float64, ids as
 * raw bytes, Fields as in record-fields.ts:
 *
 *   STORED      1 u8 | cursor f64 | Fields | nonce 16 | sent at f64 | received at f64
 *                 | content length u32 | content
 *   ACKED       2 u8 | peer key 32 | through cursor f64
 *   SEEN        3 u8 | message id 16 | peer key 32 | nonce 16 | stored at f64
 *   HIGH_WATER  4 u8 | cursor f64
 *
 * STORED adds a message and its seen entry; ACKED removes the peer's
 * messages up to a cursor; SEEN is the seen entry of an acked message and
 * HIGH_WATER the highest cursor handed out, both written by compaction,
 * which keeps the next cursor above every earlier one.
 */
export interface StoredMessage {
  /** Global, strictly increasing across all peers and restarts, from 1. */
  readonly cursor: number;
  /** 32 lower-case hex characters. */
  readonly messageId: string;
  /** The sender. */
  readonly peerId: string;
  readonly type: MessageType;
  readonly correlationId: string | null;
  readonly content: Uint8Array;
  /** 16 bytes, from the envelope. */
  readonly nonce: Uint8Array;
  /** The envelope's timestamp. */
  readonly sentAt: Date;
  readonly receivedAt: Date;
}

export type ReceivedMessage = Omit<StoredMessage, 'cursor' | 'receivedAt'>;

export interface InboxLimits {
  /** Unacked messages per peer; beyond this `add` is refused. */
  maxMessagesPerPeer: number;
  /** Unacked content bytes per peer; beyond this `add` is refused. */
  maxBytesPerPeer: number;
  /** How long a stored message's id and nonce are remembered. */
  seenRetentionMs: number;
  /** Ids and nonces remembered; beyond this `add` is refused. */
  maxSeen: number;
  /** Largest record in the file: the largest message plus its fields. */
  maxRecordBytes: number;
}

export const DEFAULT_INBOX_LIMITS: InboxLimits = {
  maxMessagesPerPeer: 1000,
  maxBytesPerPeer: 64 * 1024 * 1024,
  seenRetentionMs: 15 * 60 * 1000,
  maxSeen: 200_000,
  maxRecordBytes: 1024 * 1024 + 4096,
};

export const INBOX_FILE_NAME = 'inbox.log';

export const NONCE_BYTES = 16;

interface InboxEvents {
  /** A message is on disk and listed. */
  stored: [message: StoredMessage];
}

/** A peer's unacked messages in cursor order, and the adds for it still being written. */
interface PeerInbox {
  messages: StoredMessage[];
  bytes: number;
  reservedMessages: number;
  reservedBytes: number;
}

interface SeenEntry {
  peerId: string;
  nonce: Uint8Array;
  storedAt: number;
}

type InboxRecord =
  | { kind: 'stored'; message: StoredMessage }
  | { kind: 'acked'; peerId: string; through: number }
  | { kind: 'seen'; messageId: string; entry: SeenEntry }
  | { kind: 'high-water'; cursor: number };

const STORED = 1;
const ACKED = 2;
const SEEN = 3;
const HIGH_WATER = 4;

const ACKED_BYTES = 1 + 32 + 8;
const SEEN_BYTES = 1 + 16 + 32 + NONCE_BYTES + 8;
const HIGH_WATER_BYTES = 1 + 8;

export class InboxStore extends EventEmitter<InboxEvents> {
  private readonly messages = new Map<string, StoredMessage>();
  private readonly peers = new Map<string, PeerInbox>();
  /** By message id, in the order stored, which is the order they are forgotten in. */
  private readonly seen = new Map<string, SeenEntry>();
  /** Sender and nonce of each seen entry, to the message id that holds them. */
  private readonly nonces = new Map<string, string>();
  /** Adds being written, by message id. */
  private readonly storing = new Map<string, Promise<unknown>>();
  private readonly storingNonces = new Set<string>();
  private lastCursor = 0;
  /** What a compacted file would hold, in bytes. */
  private liveBytes = 0;
  private readonly journal: Journal;

  /** Replays the file into the state above, which is in place by now. */
  private constructor(
    dataDir: string,
    private readonly limits: InboxLimits,
    private readonly now: () => Date,
  ) {
    super();
    this.journal = Journal.open(
      join(dataDir, INBOX_FILE_NAME),
      {
        name: 'inbox',
        costOfMovingAway: 'unacked messages in it are then lost, and their senders believe them delivered',
        maxRecordBytes: limits.maxRecordBytes,
      },
      decodeRecord,
      (record) => this.apply(record),
    );
  }

  static open(dataDir: string, limits: Partial<InboxLimits> = {}, now: () => Date = () => new Date()): InboxStore {
    const store = new InboxStore(dataDir, { ...DEFAULT_INBOX_LIMITS, ...limits }, now);
    store.forgetOldSeen();
    return store;
  }

  /** The duplicate check: in the inbox now, or stored within seenRetentionMs (even if acked since). */
  hasMessage(messageId: string): boolean {
    this.forgetOldSeen();
    return this.messages.has(messageId) || this.seen.has(messageId);
  }

  /** The replay check: the sender's nonce of a message stored within seenRetentionMs. */
  hasNonce(peerId: string, nonce: Uint8Array): boolean {
    this.forgetOldSeen();
    return this.nonces.has(nonceKey(peerId, nonce));
  }

  /**
   * Resolves once the message is on disk, after emitting 'stored'. Refuses a
   * message id or a sender's nonce already seen (CONFLICT); a copy of a
   * message still being written waits for that write first, so it is a
   * duplicate only once the original is really stored. hasMessage and
   * hasNonce answer for stored messages only.
   */
  async add(message: ReceivedMessage): Promise<StoredMessage> {
    this.forgetOldSeen();
    checkIncoming(message);
    const earlier = this.storing.get(message.messageId);
    if (earlier !== undefined) {
      // A copy of a message being stored: once that is done it is a duplicate, or, if it failed, this one may take its place.
      await earlier.catch(() => undefined);
      return this.add(message);
    }
    if (this.messages.has(message.messageId) || this.seen.has(message.messageId)) {
      throw new P2pError('CONFLICT', `message ${message.messageId} from ${message.peerId} is already stored`);
    }
    const key = nonceKey(message.peerId, message.nonce);
    if (this.nonces.has(key) || this.storingNonces.has(key)) {
      throw new P2pError('CONFLICT', `${message.peerId} already used this nonce for another message, which makes this one a replay`);
    }
    this.assertRoomFor(message.peerId, message.content.length);
    const release = this.reserve(message, key);
    const stored = this.store(message, release);
    this.storing.set(message.messageId, stored);
    try {
      return await stored;
    } finally {
      this.storing.delete(message.messageId);
      release();
    }
  }

  /** Messages of this peer with a cursor above `after`, ascending, at most `limit`. */
  list(peerId: string, after: number, limit: number): StoredMessage[] {
    const messages = this.peers.get(peerId)?.messages ?? [];
    let low = 0;
    let high = messages.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((messages[middle]?.cursor ?? Infinity) <= after) low = middle + 1;
      else high = middle;
    }
    return messages.slice(low, low + limit);
  }

  /** Removes this peer's messages up to and including `through`, on disk before it resolves; returns how many. */
  async ack(peerId: string, through: number): Promise<number> {
    if (!Number.isSafeInteger(through) || through < 0) {
      throw new P2pError('INVALID_INPUT', `an ack names a cursor, a whole number >= 0, got ${through}`);
    }
    // Only what is listed can be acked: a message still being written keeps its place.
    let last: number | undefined;
    for (const message of this.peers.get(peerId)?.messages ?? []) {
      if (message.cursor > through) break;
      last = message.cursor;
    }
    if (last === undefined) return 0;
    const acked = last;
    await this.compactIfDue();
    return this.journal.commit(encodeAcked(peerId, acked), () => this.applyAcked(peerId, acked));
  }

  /** Unacked messages and their content bytes, of one peer or of all. */
  depth(peerId?: string): { messages: number; bytes: number } {
    const inboxes = peerId === undefined ? [...this.peers.values()] : [this.peers.get(peerId)];
    let messages = 0;
    let bytes = 0;
    for (const inbox of inboxes) {
      messages += inbox?.messages.length ?? 0;
      bytes += inbox?.bytes ?? 0;
    }
    return { messages, bytes };
  }

  /** Waits for the writes under way. */
  close(): Promise<void> {
    return this.journal.close();
  }

  private async store(message: ReceivedMessage, release: () => void): Promise<StoredMessage> {
    await this.compactIfDue();
    // Numbered just before it is appended, so the file holds cursors in order.
    const stored: StoredMessage = {
      cursor: this.lastCursor + 1,
      messageId: message.messageId,
      peerId: message.peerId,
      type: message.type,
      correlationId: message.correlationId,
      content: new Uint8Array(message.content),
      nonce: new Uint8Array(message.nonce),
      sentAt: new Date(message.sentAt.getTime()),
      receivedAt: this.now(),
    };
    this.lastCursor = stored.cursor;
    await this.journal.commit(encodeStored(stored), () => {
      release();
      this.applyStored(stored);
    });
    this.emit('stored', stored);
    return stored;
  }

  private assertRoomFor(peerId: string, contentBytes: number): void {
    const inbox = this.peers.get(peerId);
    const messages = inbox === undefined ? 0 : inbox.messages.length + inbox.reservedMessages;
    const bytes = inbox === undefined ? 0 : inbox.bytes + inbox.reservedBytes;
    const { maxMessagesPerPeer, maxBytesPerPeer, maxSeen, seenRetentionMs } = this.limits;
    if (messages + 1 > maxMessagesPerPeer || bytes + contentBytes > maxBytesPerPeer) {
      throw new P2pError(
        'LIMIT_REACHED',
        `inbox for ${peerId} is full (${messages} messages / ${bytes} bytes): it keeps at most ${maxMessagesPerPeer} ` +
          `messages / ${maxBytesPerPeer} bytes per peer until they are acked; receive and ack messages to make room`,
      );
    }
    const remembered = this.seen.size + this.storing.size;
    if (remembered >= maxSeen) {
      throw new P2pError(
        'LIMIT_REACHED',
        `the inbox remembers ${remembered} messages stored in the last ${Math.ceil(seenRetentionMs / 1000)} s to refuse ` +
          `replays, the most it keeps (${maxSeen}); it takes new messages again as those age out`,
      );
    }
  }

  /** Counts an add against its peer's limits while it is written; the returned release may be called twice. */
  private reserve(message: ReceivedMessage, key: string): () => void {
    const inbox = this.inboxOf(message.peerId);
    inbox.reservedMessages += 1;
    inbox.reservedBytes += message.content.length;
    this.storingNonces.add(key);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      inbox.reservedMessages -= 1;
      inbox.reservedBytes -= message.content.length;
      this.storingNonces.delete(key);
      this.dropIfIdle(message.peerId, inbox);
    };
  }

  private compactIfDue(): Promise<void> {
    // Aged seen entries are dropped lazily; they must not count as live, nor be written again.
    this.forgetOldSeen();
    return this.journal.compactIfDue(this.liveBytes, () => this.snapshot());
  }

  /**
   * What memory holds, as records, in the order it was stored: first the
   * unacked messages no longer in the seen set (the oldest), then the seen
   * entries, as STORED while unacked and SEEN after.
   */
  private snapshot(): Uint8Array[] {
    const bodies: Uint8Array[] = [encodeHighWater(this.lastCursor)];
    const unseen: StoredMessage[] = [];
    for (const inbox of this.peers.values()) {
      for (const message of inbox.messages) if (!this.seen.has(message.messageId)) unseen.push(message);
    }
    unseen.sort((a, b) => a.cursor - b.cursor);
    for (const message of unseen) bodies.push(encodeStored(message));
    for (const [messageId, entry] of this.seen) {
      const message = this.messages.get(messageId);
      bodies.push(message === undefined ? encodeSeen(messageId, entry) : encodeStored(message));
    }
    return bodies;
  }

  /** At open; live writes call the same functions. */
  private apply(record: InboxRecord): void {
    switch (record.kind) {
      case 'stored':
        this.applyStored(record.message);
        break;
      case 'acked':
        this.applyAcked(record.peerId, record.through);
        break;
      case 'seen':
        this.forget(record.messageId);
        this.remember(record.messageId, record.entry);
        break;
      case 'high-water':
        this.lastCursor = Math.max(this.lastCursor, record.cursor);
        break;
    }
  }

  private applyStored(message: StoredMessage): void {
    // A message id comes back only after it was forgotten; in a replay its old entry is still here.
    this.forget(message.messageId);
    const inbox = this.inboxOf(message.peerId);
    inbox.messages.push(message);
    inbox.bytes += message.content.length;
    this.messages.set(message.messageId, message);
    this.liveBytes += RECORD_HEADER_BYTES + storedBytes(message);
    this.remember(message.messageId, { peerId: message.peerId, nonce: message.nonce, storedAt: message.receivedAt.getTime() });
    this.lastCursor = Math.max(this.lastCursor, message.cursor);
  }

  private applyAcked(peerId: string, through: number): number {
    const inbox = this.peers.get(peerId);
    if (inbox === undefined) return 0;
    let count = 0;
    for (const message of inbox.messages) {
      if (message.cursor > through) break;
      count += 1;
    }
    for (const message of inbox.messages.splice(0, count)) {
      inbox.bytes -= message.content.length;
      this.messages.delete(message.messageId);
      this.liveBytes -= RECORD_HEADER_BYTES + storedBytes(message);
      // Its seen entry now takes a SEEN record of its own.
      if (this.seen.has(message.messageId)) this.liveBytes += RECORD_HEADER_BYTES + SEEN_BYTES;
    }
    this.dropIfIdle(peerId, inbox);
    return count;
  }

  private remember(messageId: string, entry: SeenEntry): void {
    this.seen.set(messageId, entry);
    this.nonces.set(nonceKey(entry.peerId, entry.nonce), messageId);
    if (!this.messages.has(messageId)) this.liveBytes += RECORD_HEADER_BYTES + SEEN_BYTES;
  }

  private forget(messageId: string): void {
    const entry = this.seen.get(messageId);
    if (entry === undefined) return;
    this.seen.delete(messageId);
    const key = nonceKey(entry.peerId, entry.nonce);
    // A later message may hold the same nonce (after this one was forgotten once, in a replay); it keeps it.
    if (this.nonces.get(key) === messageId) this.nonces.delete(key);
    if (!this.messages.has(messageId)) this.liveBytes -= RECORD_HEADER_BYTES + SEEN_BYTES;
  }

  private forgetOldSeen(): void {
    const cutoff = this.now().getTime() - this.limits.seenRetentionMs;
    for (const [messageId, entry] of this.seen) {
      if (entry.storedAt > cutoff) break;
      this.forget(messageId);
    }
  }

  private inboxOf(peerId: string): PeerInbox {
    let inbox = this.peers.get(peerId);
    if (inbox === undefined) {
      inbox = { messages: [], bytes: 0, reservedMessages: 0, reservedBytes: 0 };
      this.peers.set(peerId, inbox);
    }
    return inbox;
  }

  private dropIfIdle(peerId: string, inbox: PeerInbox): void {
    if (inbox.messages.length === 0 && inbox.reservedMessages === 0) this.peers.delete(peerId);
  }
}

/** Guards the file: operations and the network check their input earlier. */
function checkIncoming(message: ReceivedMessage): void {
  checkMessageFields(message);
  if (message.nonce.length !== NONCE_BYTES) {
    throw new P2pError('INVALID_INPUT', `a message nonce has ${NONCE_BYTES} bytes, got ${message.nonce.length}`);
  }
  const sentAt = message.sentAt.getTime();
  if (!Number.isSafeInteger(sentAt) || sentAt < 0) {
    throw new P2pError('INVALID_INPUT', `a message's sent time must be a valid date after 1970, got ${String(message.sentAt)}`);
  }
}

function nonceKey(peerId: string, nonce: Uint8Array): string {
  return `${peerId}:${Buffer.from(nonce.buffer, nonce.byteOffset, nonce.length).toString('hex')}`;
}

function storedBytes(message: StoredMessage): number {
  return 1 + 8 + messageFieldsBytes(message) + NONCE_BYTES + 8 + 8 + 4 + message.content.length;
}

function encodeStored(message: StoredMessage): Uint8Array {
  const writer = writeMessageFields(new RecordWriter(storedBytes(message)).u8(STORED).uint(message.cursor), message);
  return writer
    .bytes(message.nonce)
    .uint(message.sentAt.getTime())
    .uint(message.receivedAt.getTime())
    .u32(message.content.length)
    .bytes(message.content)
    .finish();
}

function encodeAcked(peerId: string, through: number): Uint8Array {
  return new RecordWriter(ACKED_BYTES).u8(ACKED).bytes(publicKeyFromPeerId(peerId)).uint(through).finish();
}

function encodeSeen(messageId: string, entry: SeenEntry): Uint8Array {
  return new RecordWriter(SEEN_BYTES)
    .u8(SEEN)
    .bytes(Buffer.from(messageId, 'hex'))
    .bytes(publicKeyFromPeerId(entry.peerId))
    .bytes(entry.nonce)
    .uint(entry.storedAt)
    .finish();
}

function encodeHighWater(cursor: number): Uint8Array {
  return new RecordWriter(HIGH_WATER_BYTES).u8(HIGH_WATER).uint(cursor).finish();
}

function decodeRecord(body: Uint8Array): InboxRecord {
  const reader = new RecordReader(body);
  const kind = reader.u8();
  let record: InboxRecord;
  if (kind === STORED) {
    const cursor = reader.uint();
    const fields = readMessageFields(reader);
    const nonce = reader.bytes(NONCE_BYTES);
    const sentAt = new Date(reader.uint());
    const receivedAt = new Date(reader.uint());
    const content = reader.bytes(reader.u32());
    record = { kind: 'stored', message: { cursor, ...fields, content, nonce, sentAt, receivedAt } };
  } else if (kind === ACKED) {
    record = { kind: 'acked', peerId: peerIdFromPublicKey(reader.bytes(32)), through: reader.uint() };
  } else if (kind === SEEN) {
    const messageId = Buffer.from(reader.bytes(16)).toString('hex');
    const peerId = peerIdFromPublicKey(reader.bytes(32));
    record = { kind: 'seen', messageId, entry: { peerId, nonce: reader.bytes(NONCE_BYTES), storedAt: reader.uint() } };
  } else if (kind === HIGH_WATER) {
    record = { kind: 'high-water', cursor: reader.uint() };
  } else {
    throw new Error(`its kind is ${kind}`);
  }
  reader.finish();
  return record;
}
