import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { P2pError } from '../common/errors';
import { hexOf } from '../common/hex';
import { cachedPublicKeyFromPeerId, peerIdFromPublicKey } from '../common/peer-id';
import { FifoMap } from './fifo-map';
import { DEFAULT_COMPACTION_MIN_BYTES, Journal } from './journal';
import { checkMessageFields, codeOf, type MessageType, messageFieldsBytes, readMessageFields, writeMessageFields } from './record-fields';
import { RecentRecords } from './recent-records';
import { RECORD_HEADER_BYTES, type RecordPlace, RecordReader, RecordWriter, type RewriteEntry } from './record-log';

/**
 * Messages received from peers, stored durably before the sender is told
 * they arrived, until the local agent acks them. Each gets a cursor, one
 * sequence across all peers that never goes back, also across restarts.
 *
 * Besides the messages, the inbox remembers every message it stored within
 * seenRetentionMs, acked or not: its id and the first 16 bytes of its leaf
 * hash, its digest (the duplicate check: the same id with another digest is
 * another message under a reused id). A message id is picked by its sender,
 * so it names a message only together with that sender: everything here is
 * looked up by (peer, message id), and a peer that reuses another peer's id
 * neither stores over that peer's message nor makes it a duplicate. Seen
 * entries are never evicted early, since a replayed message would then be stored again;
 * when there are too many, new messages are refused instead, per peer as
 * InboxLimits describes.
 *
 * The state lives in memory and every change is appended to a RecordLog
 * before it is applied, so what a caller can see is always on disk. The
 * content of a message stays on disk: memory keeps the place of its STORED
 * record, and `read` reads the records back, but for the newest messages,
 * whose records are also kept in memory up to maxRecentBytes so that a
 * receive waiting for a message does not wait for the disk too. So what
 * the inbox holds in memory grows with the number of messages, not with
 * their size.
 *
 * File `<data_dir>/inbox.log` (see record-log.ts for the framing). Bodies,
 * integers big-endian, times in ms since 1970 and cursors as float64, ids
 * as raw bytes, Fields as in record-fields.ts:
 *
 *   STORED      5 u8 | cursor f64 | Fields | digest 16 | sent at f64 | received at f64
 *                 | proof length u32 | proof | content length u32 | content
 *   ACKED       2 u8 | peer key 32 | through cursor f64                   (channel messages)
 *   ACKED_CHANNEL 6 u8 | peer key 32 | channel u8 (1 a2a, 2 files, 3 groups) | through cursor f64
 *   SEEN        3 u8 | message id 16 | peer key 32 | digest 16 | stored at f64
 *   HIGH_WATER  4 u8 | cursor f64
 *
 * Kind 1, the STORED record of protocol 1 (a nonce, no proof), is not read.
 *
 * Messages are read and acked per channel (InboxChannel): `receive` reads
 * text and json messages, the A2A service its two types, the file and
 * group services theirs, and none acks another's. The seen entries stay
 * per peer, across channels, since a message id names one message of its
 * sender whatever its type.
 *
 * STORED adds a message and its seen entry; ACKED and ACKED_CHANNEL remove
 * the peer's messages of one channel up to a cursor; SEEN is the seen entry of an acked message and
 * HIGH_WATER the highest cursor handed out, both written by compaction,
 * which keeps the next cursor above every earlier one.
 */
export interface StoredMessage {
  /** Global, strictly increasing across all peers and restarts, from 1. */
  readonly cursor: number;
  /** 32 lower-case hex characters, unique per sender. */
  readonly messageId: string;
  /** The sender. */
  readonly peerId: string;
  readonly type: MessageType;
  readonly correlationId: string | null;
  /** Read back from the file by `read`; what `add` returns and 'stored' gives holds the content given to `add`. */
  readonly content: Uint8Array;
  /** The first 16 bytes of the message's leaf hash: what tells a retransmission from another message under the same id. */
  readonly digest: Uint8Array;
  /**
   * What makes the message verifiable alone, without the rest of its batch
   * (wire/message-proof.ts): opaque here, at most MAX_PROOF_BYTES.
   */
  readonly proof: Uint8Array;
  /** When the sender accepted the message (its created_at). */
  readonly sentAt: Date;
  readonly receivedAt: Date;
}

/** What `add` takes; the arrays and the Date in it become the stored message's, so do not change them afterwards. */
export type ReceivedMessage = Omit<StoredMessage, 'cursor' | 'receivedAt'>;

/**
 * How much the inbox holds. Unacked messages are bounded per peer, in
 * number and in content bytes; the content is on disk, and memory holds
 * about 150 bytes per unacked message besides its seen entry (measured on
 * Node 20 with 50,000 messages), whatever its size. Seen entries (one per message stored within
 * seenRetentionMs, adds being written included) are bounded three ways:
 *
 * - a peer holding maxSeenPerPeer of them is refused;
 * - once half of maxSeen is held, a peer holding at least its fair share
 *   of that half, maxSeen / 2 / (peers holding entries), is refused;
 * - at maxSeen every peer is refused.
 *
 * So the upper half is kept for peers below their share, and one peer alone,
 * however fast, cannot get a peer below its share refused: it never holds
 * more than half of maxSeen (past that it grows only while below its share,
 * which is at most that half), and the peers below their share hold less
 * than the other half together (while a share is at least one entry, that
 * is with fewer than maxSeen / 2 peers). Refusing a peer below its share
 * takes at least two peers above theirs. A refused message is deferred
 * (`inbox_full`): its sender offers it again later.
 *
 * Memory: a seen entry takes about 280 to 320 bytes of heap (225 to 265
 * measured on Node 20 with 100,000 to 200,000 entries, from one peer or
 * from a hundred, in a plain Map; the FifoMap that keeps them in the order
 * they are forgotten adds about 56, measured with 200,000), so the seen set
 * never takes more than about maxSeen × 320 bytes: 64 MB with the defaults. The unacked messages come on top, bounded per peer by
 * maxMessagesPerPeer, and the records of the newest ones, by
 * maxRecentBytes; a `read` holds at most maxReadBytes of content.
 */
export interface InboxLimits {
  /** Unacked messages per peer; beyond this `add` is refused. */
  maxMessagesPerPeer: number;
  /** Unacked content bytes per peer; beyond this `add` is refused. */
  maxBytesPerPeer: number;
  /** How long a stored message's id and digest are remembered. */
  seenRetentionMs: number;
  /** Seen entries of one peer; at this its `add` is refused. */
  maxSeenPerPeer: number;
  /** Seen entries of all peers, the memory bound; from half of it on, shared fairly (see above). */
  maxSeen: number;
  /** Largest record in the file: the largest message plus its fields. */
  maxRecordBytes: number;
  /** Content bytes one `read` returns at most, unless its first message alone is larger: what a receive holds in memory. */
  maxReadBytes: number;
  /** Record bytes of the newest unacked messages also kept in memory, read without the file; 0 keeps none. */
  maxRecentBytes: number;
  /** Size of the file below which it is never compacted. */
  compactionMinBytes: number;
}

/**
 * 100,000 entries in the 15 minutes a peer's messages are remembered is a
 * steady 111 messages a second, far more than a conversation needs; one
 * peer that busy fills half of maxSeen, from where on shares apply.
 */
export const DEFAULT_INBOX_LIMITS: InboxLimits = {
  maxMessagesPerPeer: 1000,
  maxBytesPerPeer: 64 * 1024 * 1024,
  seenRetentionMs: 15 * 60 * 1000,
  maxSeenPerPeer: 100_000,
  maxSeen: 200_000,
  maxRecordBytes: 1024 * 1024 + 4096,
  maxReadBytes: 8 * 1024 * 1024,
  maxRecentBytes: 1024 * 1024,
  compactionMinBytes: DEFAULT_COMPACTION_MIN_BYTES,
};

export const INBOX_FILE_NAME = 'inbox.log';

export const DIGEST_BYTES = 16;
/** Room for a proof of protocol 2 (396 bytes at most) and what a later one may add. */
export const MAX_PROOF_BYTES = 1024;

/**
 * Who reads a message: `receive` (text, json), the A2A service (a2a_request,
 * a2a_response), the file service (file_offer, file_control, file_chunk) or
 * the group service (group_control, group_message).
 */
export type InboxChannel = 'messages' | 'a2a' | 'files' | 'groups';

const CHANNEL_OF_TYPE: Record<MessageType, InboxChannel> = {
  text: 'messages',
  json: 'messages',
  a2a_request: 'a2a',
  a2a_response: 'a2a',
  file_offer: 'files',
  file_control: 'files',
  file_chunk: 'files',
  group_control: 'groups',
  group_message: 'groups',
};

export function channelOf(type: MessageType): InboxChannel {
  return CHANNEL_OF_TYPE[type];
}

/** What the inbox knows of a message id from a peer, given the message's digest. */
export type Recognition = 'new' | 'duplicate' | 'id_reused';

interface InboxEvents {
  /** A message is on disk and listed. */
  stored: [message: StoredMessage];
}

/** What memory keeps of an unacked message: its content stays in the file, at `place`. */
interface UnackedMessage {
  readonly cursor: number;
  readonly channel: InboxChannel;
  readonly messageId: string;
  /** Content bytes. */
  readonly size: number;
  /** Of its STORED record; a compaction that carries the record moves it. */
  readonly place: RecordPlace;
  /** Hex, the same string as its seen entry's: what recognize compares once that entry is forgotten. */
  readonly digest: string;
}

/** Everything the inbox holds for one peer, all by that peer's message ids; dropped once empty. */
interface PeerState {
  /** Unacked messages in cursor order. */
  messages: UnackedMessage[];
  /** The same, by message id. */
  unacked: Map<string, UnackedMessage>;
  /** Content bytes of `messages`. */
  bytes: number;
  /** Adds being written, by message id. */
  storing: Map<string, Promise<unknown>>;
  /** Ids of the adds being written: they count against the limits until stored. */
  storingIds: Set<string>;
  storingBytes: number;
  /** Messages stored within seenRetentionMs, by message id, in the order stored, which is the order they are forgotten in. */
  seen: FifoMap<string, SeenEntry>;
}

/** Hex, not bytes: a short string takes a fraction of the heap of a Uint8Array. */
interface SeenEntry {
  digest: string;
  storedAt: number;
}

type InboxRecord =
  | { kind: 'stored'; message: StoredMessage }
  | { kind: 'acked'; peerId: string; channel: InboxChannel; through: number }
  | { kind: 'seen'; peerId: string; messageId: string; entry: SeenEntry }
  | { kind: 'high-water'; cursor: number };

const STORED = 5;
const ACKED = 2;
const SEEN = 3;
const HIGH_WATER = 4;
const ACKED_CHANNEL = 6;
/** Codes of the channels in ACKED_CHANNEL; `messages` is written as ACKED, as before channels. */
const CHANNEL_CODES: readonly InboxChannel[] = ['messages', 'a2a', 'files', 'groups'];

const ACKED_BYTES = 1 + 32 + 8;
const ACKED_CHANNEL_BYTES = 1 + 32 + 1 + 8;
const SEEN_BYTES = 1 + 16 + 32 + DIGEST_BYTES + 8;
const HIGH_WATER_BYTES = 1 + 8;

export class InboxStore extends EventEmitter<InboxEvents> {
  private readonly peers = new Map<string, PeerState>();
  /** Seen entries of all peers. */
  private seenCount = 0;
  /**
   * No seen entry was stored before this: a lower bound, so that the check
   * for entries to forget, made on every duplicate check and add, walks
   * the peers only when one may have aged out.
   */
  private oldestSeenAt = Number.POSITIVE_INFINITY;
  /** Adds being written, of all peers. */
  private storingCount = 0;
  private lastCursor = 0;
  /** What a compacted file would hold, in bytes. */
  private liveBytes = 0;
  /** Reads that failed for a message that could not be read back. */
  private unreadable = 0;
  private readonly recent: RecentRecords<UnackedMessage>;
  private readonly journal: Journal;

  /** Replays the file into the state above, which is in place by now. */
  private constructor(
    dataDir: string,
    private readonly limits: InboxLimits,
    /** Milliseconds since 1970: a number, as the store asks for the time on every call and keeps a Date only per message. */
    private readonly now: () => number,
  ) {
    super();
    this.recent = new RecentRecords(limits.maxRecentBytes);
    this.journal = Journal.open(
      join(dataDir, INBOX_FILE_NAME),
      {
        name: 'inbox',
        costOfMovingAway: 'unacked messages in it are then lost, and their senders believe them delivered',
        maxRecordBytes: limits.maxRecordBytes,
        compactionMinBytes: limits.compactionMinBytes,
      },
      decodeRecord,
      (record, place) => this.apply(record, place),
    );
  }

  static open(dataDir: string, limits: Partial<InboxLimits> = {}, now: () => number = Date.now): InboxStore {
    const store = new InboxStore(dataDir, { ...DEFAULT_INBOX_LIMITS, ...limits }, now);
    store.forgetOldSeen();
    return store;
  }

  /**
   * The duplicate check with the message's digest: a message id this peer
   * used within seenRetentionMs (or still unacked) is a duplicate when the
   * digest is the same, and another message under a reused id when it is
   * not, also for an unacked message whose seen entry aged out.
   */
  recognize(peerId: string, messageId: string, digest: Uint8Array): Recognition {
    this.forgetOldSeen();
    const peer = this.peers.get(peerId);
    const known = peer?.seen.get(messageId)?.digest ?? peer?.unacked.get(messageId)?.digest;
    if (known === undefined) return 'new';
    return known === hexOf(digest) ? 'duplicate' : 'id_reused';
  }

  /**
   * Resolves once the message is on disk, after emitting 'stored'. Refuses a
   * message id its sender already used (CONFLICT; recognize tells which
   * case); a copy of a message still being written waits for that write
   * first, so it is a duplicate only once the original is really stored.
   * recognize answers for stored messages only.
   */
  async add(message: ReceivedMessage): Promise<StoredMessage> {
    this.forgetOldSeen();
    checkIncoming(message);
    const { peerId, messageId } = message;
    const known = this.peers.get(peerId);
    const earlier = known?.storing.get(messageId);
    if (earlier !== undefined) {
      // A copy of a message being stored: once that is done it is a duplicate, or, if it failed, this one may take its place.
      await earlier.catch(() => undefined);
      return this.add(message);
    }
    if (knowsId(known, messageId)) {
      throw new P2pError('CONFLICT', `message ${messageId} from ${peerId} is already stored`);
    }
    this.assertRoomFor(peerId, message.content.length);
    const peer = this.stateOf(peerId);
    const release = this.reserve(peerId, peer, messageId, message.content.length);
    const stored = this.store(message, release);
    peer.storing.set(messageId, stored);
    try {
      return await stored;
    } finally {
      peer.storing.delete(messageId);
      release();
    }
  }

  /** Whether this peer has a message of the channel with a cursor above `after`: what `read` would return something for. */
  hasMessagesAfter(peerId: string, after: number, channel: InboxChannel = 'messages'): boolean {
    const messages = this.peers.get(peerId)?.messages ?? [];
    for (let index = firstAfter(messages, after); index < messages.length; index += 1) if (messages[index]?.channel === channel) return true;
    return false;
  }

  /**
   * Messages of this peer with a cursor above `after`, ascending, at most
   * `limit` and at most maxReadBytes of content (but always the first),
   * read back from the file (from memory, the newest). A message that
   * cannot be read (the file was damaged, cut short or could not be read)
   * ends the answer: the messages before it are returned, and when it is
   * the first, the read fails naming it, and is counted (unreadableCount).
   * It stays in the inbox, as does everything else, until it is acked.
   */
  async read(peerId: string, after: number, limit: number, channel: InboxChannel = 'messages'): Promise<StoredMessage[]> {
    const wanted = this.selectAfter(peerId, after, limit, channel);
    if (wanted.length === 0) return [];
    // Taken now: a message stored while the file is read may push them out.
    const kept = wanted.map((message) => this.recent.get(message));
    const places = wanted.filter((_, index) => kept[index] === undefined).map((message) => message.place);
    const fromFile = places.length === 0 ? [] : await this.journal.read(places);
    let next = 0;
    const messages: StoredMessage[] = [];
    for (const [index, message] of wanted.entries()) {
      const read = readBack(kept[index] ?? fromFile[next++], peerId, message);
      if (read instanceof Error) {
        if (messages.length > 0) break;
        this.unreadable += 1;
        throw this.unreadableError(peerId, message, read);
      }
      messages.push(read);
    }
    return messages;
  }

  /** Removes this peer's messages of the channel up to and including `through`, on disk before it resolves; returns how many. */
  async ack(peerId: string, through: number, channel: InboxChannel = 'messages'): Promise<number> {
    if (!Number.isSafeInteger(through) || through < 0) {
      throw new P2pError('INVALID_INPUT', `an ack names a cursor, a whole number >= 0, got ${through}`);
    }
    // Only what is listed can be acked: a message still being written keeps its place.
    let last: number | undefined;
    for (const message of this.peers.get(peerId)?.messages ?? []) {
      if (message.cursor > through) break;
      if (message.channel === channel) last = message.cursor;
    }
    if (last === undefined) return 0;
    const acked = last;
    await this.compactIfDue();
    return this.journal.commit(encodeAcked(peerId, channel, acked), () => this.applyAcked(peerId, channel, acked));
  }

  /** Reads that failed since open because a message could not be read back from the file. */
  get unreadableCount(): number {
    return this.unreadable;
  }

  /**
   * Bytes memory holds for the content of messages: that of adds being
   * written, until they are on disk, and the records of the newest
   * messages (at most maxRecentBytes). The others take none (see the class).
   */
  heldMessageBytes(): number {
    let bytes = this.recent.heldBytes;
    for (const peer of this.peers.values()) bytes += peer.storingBytes;
    return bytes;
  }

  /** Unacked messages and their content bytes, of one peer or of all. */
  depth(peerId?: string): { messages: number; bytes: number } {
    const peers = peerId === undefined ? [...this.peers.values()] : [this.peers.get(peerId)];
    let messages = 0;
    let bytes = 0;
    for (const peer of peers) {
      messages += peer?.messages.length ?? 0;
      bytes += peer?.bytes ?? 0;
    }
    return { messages, bytes };
  }

  /** Waits for the writes under way. */
  close(): Promise<void> {
    return this.journal.close();
  }

  private async store(message: ReceivedMessage, release: () => void): Promise<StoredMessage> {
    // Only when one is due: otherwise the record is asked for in this same step.
    const compaction = this.compactIfDue();
    if (compaction !== undefined) await compaction;
    // Numbered just before it is appended, so the file holds cursors in order.
    const stored: StoredMessage = {
      cursor: this.lastCursor + 1,
      messageId: message.messageId,
      peerId: message.peerId,
      type: message.type,
      correlationId: message.correlationId,
      // Not copied (see ReceivedMessage): the record holds its own copy, and memory keeps none of them.
      content: message.content,
      digest: message.digest,
      proof: message.proof,
      sentAt: message.sentAt,
      receivedAt: new Date(this.now()),
    };
    this.lastCursor = stored.cursor;
    const record = encodeStored(stored);
    await this.journal.commit(record, (place) => {
      // Listed before the reservation ends, so the peer's state is never empty in between.
      this.recent.add(this.applyStored(stored, place), record);
      release();
    });
    this.emit('stored', stored);
    return stored;
  }

  /** The unacked messages of this peer a `read` after `after` returns, within its limits. */
  private selectAfter(peerId: string, after: number, limit: number, channel: InboxChannel): UnackedMessage[] {
    const messages = this.peers.get(peerId)?.messages ?? [];
    const selected: UnackedMessage[] = [];
    let bytes = 0;
    for (let index = firstAfter(messages, after); index < messages.length && selected.length < limit; index += 1) {
      const message = messages[index] as UnackedMessage;
      if (message.channel !== channel) continue;
      bytes += message.size;
      if (selected.length > 0 && bytes > this.limits.maxReadBytes) break;
      selected.push(message);
    }
    return selected;
  }

  private unreadableError(peerId: string, message: UnackedMessage, cause: Error): P2pError {
    return new P2pError(
      cause instanceof P2pError ? cause.errorName : 'INTERNAL_ERROR',
      `message ${message.messageId} (cursor ${message.cursor}) from ${peerId} cannot be read back from the inbox (${cause.message}). ` +
        'Nothing else in the inbox is affected: receive again once the cause is fixed (a failing disk, a file changed by ' +
        `another program), or ack through cursor ${message.cursor} to drop this message and read those after it`,
    );
  }

  private assertRoomFor(peerId: string, contentBytes: number): void {
    const peer = this.peers.get(peerId);
    const messages = peer === undefined ? 0 : peer.messages.length + peer.storingIds.size;
    const bytes = peer === undefined ? 0 : peer.bytes + peer.storingBytes;
    const { maxMessagesPerPeer, maxBytesPerPeer } = this.limits;
    if (messages + 1 > maxMessagesPerPeer || bytes + contentBytes > maxBytesPerPeer) {
      throw new P2pError(
        'LIMIT_REACHED',
        `inbox for ${peerId} is full (${messages} messages / ${bytes} bytes): it keeps at most ${maxMessagesPerPeer} ` +
          `messages / ${maxBytesPerPeer} bytes per peer until they are acked; receive and ack messages to make room`,
      );
    }
    this.assertSeenRoomFor(peerId, peer === undefined ? 0 : rememberedBy(peer));
  }

  /** The seen bounds of InboxLimits, for a peer holding `held` entries. */
  private assertSeenRoomFor(peerId: string, held: number): void {
    const { maxSeenPerPeer, maxSeen, seenRetentionMs } = this.limits;
    // Spelled out only for a refusal: this runs for every message.
    const window = (): string => `stored in the last ${Math.ceil(seenRetentionMs / 1000)} s to refuse replays`;
    if (held >= maxSeenPerPeer) {
      throw new P2pError(
        'LIMIT_REACHED',
        `the inbox remembers ${held} messages from ${peerId} ${window()}, the most it keeps per peer (${maxSeenPerPeer}); ` +
          'its messages are taken again as those age out',
      );
    }
    const total = this.seenCount + this.storingCount;
    if (total >= maxSeen) {
      throw new P2pError('LIMIT_REACHED', `the inbox remembers ${total} messages ${window()}, the most it keeps (${maxSeen}); new messages are taken again as those age out`);
    }
    if (total < maxSeen / 2) return;
    const holders = this.peersHoldingEntries() + (held === 0 ? 1 : 0);
    if (held >= maxSeen / 2 / holders) {
      throw new P2pError(
        'LIMIT_REACHED',
        `the inbox remembers ${total} messages ${window()}, over half the most it keeps (${maxSeen}), and ${held} are from ` +
          `${peerId}, its share among ${holders} peers; the rest is kept for peers below theirs, and its messages are taken ` +
          'again as its entries age out',
      );
    }
  }

  private peersHoldingEntries(): number {
    let count = 0;
    for (const peer of this.peers.values()) if (rememberedBy(peer) > 0) count += 1;
    return count;
  }

  /** Counts an add against its peer's limits while it is written; the returned release may be called twice. */
  private reserve(peerId: string, peer: PeerState, messageId: string, contentBytes: number): () => void {
    peer.storingIds.add(messageId);
    peer.storingBytes += contentBytes;
    this.storingCount += 1;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      peer.storingIds.delete(messageId);
      peer.storingBytes -= contentBytes;
      this.storingCount -= 1;
      this.dropIfEmpty(peerId, peer);
    };
  }

  private compactIfDue(): Promise<void> | undefined {
    // Aged seen entries are dropped lazily; they must not count as live, nor be written again.
    this.forgetOldSeen();
    return this.journal.compactIfDue(this.liveBytes, () => this.snapshot());
  }

  /**
   * What memory holds, as records, each peer's in the order it was stored:
   * first the unacked messages no longer seen (the oldest), then the seen
   * entries, as STORED while unacked and SEEN after. A STORED record is
   * carried over from the file as it is, by its place.
   */
  private snapshot(): RewriteEntry[] {
    const entries: RewriteEntry[] = [encodeHighWater(this.lastCursor)];
    const unseen: UnackedMessage[] = [];
    for (const peer of this.peers.values()) {
      for (const message of peer.messages) if (!peer.seen.has(message.messageId)) unseen.push(message);
    }
    unseen.sort((a, b) => a.cursor - b.cursor);
    for (const message of unseen) entries.push(message.place);
    for (const [peerId, peer] of this.peers) {
      for (const [messageId, entry] of peer.seen) {
        const message = peer.unacked.get(messageId);
        entries.push(message === undefined ? encodeSeen(peerId, messageId, entry) : message.place);
      }
    }
    return entries;
  }

  /** At open; live writes call the same functions. */
  private apply(record: InboxRecord, place: RecordPlace): void {
    switch (record.kind) {
      case 'stored':
        this.applyStored(record.message, place);
        break;
      case 'acked':
        this.applyAcked(record.peerId, record.channel, record.through);
        break;
      case 'seen': {
        const peer = this.stateOf(record.peerId);
        this.forget(peer, record.messageId);
        this.remember(peer, record.messageId, record.entry);
        break;
      }
      case 'high-water':
        this.lastCursor = Math.max(this.lastCursor, record.cursor);
        break;
    }
  }

  /** `message.content` is not kept: at open it is a view into the whole file read at once. */
  private applyStored(message: StoredMessage, place: RecordPlace): UnackedMessage {
    const peer = this.stateOf(message.peerId);
    // A message id comes back only after it was forgotten; in a replay its old entry is still here.
    this.forget(peer, message.messageId);
    const digest = hexOf(message.digest);
    const unacked: UnackedMessage = { cursor: message.cursor, channel: channelOf(message.type), messageId: message.messageId, size: message.content.length, place, digest };
    peer.messages.push(unacked);
    peer.unacked.set(message.messageId, unacked);
    peer.bytes += unacked.size;
    this.liveBytes += RECORD_HEADER_BYTES + place.length;
    this.remember(peer, message.messageId, { digest, storedAt: message.receivedAt.getTime() });
    this.lastCursor = Math.max(this.lastCursor, message.cursor);
    return unacked;
  }

  private applyAcked(peerId: string, channel: InboxChannel, through: number): number {
    const peer = this.peers.get(peerId);
    if (peer === undefined) return 0;
    // Messages are in cursor order: those up to `through` lead the list.
    let upTo = 0;
    while (upTo < peer.messages.length && (peer.messages[upTo] as UnackedMessage).cursor <= through) upTo += 1;
    const leading = peer.messages.slice(0, upTo);
    // Usually all of one channel: cut from the front, as an ack did before channels, without walking the rest.
    const acked = leading.every((message) => message.channel === channel) ? peer.messages.splice(0, upTo) : leading.filter((message) => message.channel === channel);
    if (acked.length === 0) return 0;
    if (acked.length < upTo) peer.messages = [...leading.filter((message) => message.channel !== channel), ...peer.messages.slice(upTo)];
    for (const message of acked) {
      peer.bytes -= message.size;
      peer.unacked.delete(message.messageId);
      this.recent.delete(message);
      this.liveBytes -= RECORD_HEADER_BYTES + message.place.length;
      // Its seen entry now takes a SEEN record of its own.
      if (peer.seen.has(message.messageId)) this.liveBytes += RECORD_HEADER_BYTES + SEEN_BYTES;
    }
    this.dropIfEmpty(peerId, peer);
    return acked.length;
  }

  private remember(peer: PeerState, messageId: string, entry: SeenEntry): void {
    peer.seen.set(messageId, entry);
    this.seenCount += 1;
    this.oldestSeenAt = Math.min(this.oldestSeenAt, entry.storedAt);
    if (!peer.unacked.has(messageId)) this.liveBytes += RECORD_HEADER_BYTES + SEEN_BYTES;
  }

  private forget(peer: PeerState, messageId: string): void {
    const entry = peer.seen.get(messageId);
    if (entry === undefined) return;
    peer.seen.delete(messageId);
    this.seenCount -= 1;
    if (!peer.unacked.has(messageId)) this.liveBytes -= RECORD_HEADER_BYTES + SEEN_BYTES;
  }

  private forgetOldSeen(): void {
    const cutoff = this.now() - this.limits.seenRetentionMs;
    if (this.oldestSeenAt > cutoff) return;
    let oldest = Number.POSITIVE_INFINITY;
    for (const [peerId, peer] of this.peers) {
      for (let entry = peer.seen.oldest(); entry !== undefined; entry = peer.seen.oldest()) {
        if (entry.value.storedAt > cutoff) {
          oldest = Math.min(oldest, entry.value.storedAt);
          break;
        }
        this.forget(peer, entry.key);
      }
      this.dropIfEmpty(peerId, peer);
    }
    this.oldestSeenAt = oldest;
  }

  private stateOf(peerId: string): PeerState {
    let peer = this.peers.get(peerId);
    if (peer === undefined) {
      peer = {
        messages: [],
        unacked: new Map(),
        bytes: 0,
        storing: new Map(),
        storingIds: new Set(),
        storingBytes: 0,
        seen: new FifoMap(),
      };
      this.peers.set(peerId, peer);
    }
    return peer;
  }

  private dropIfEmpty(peerId: string, peer: PeerState): void {
    if (peer.messages.length === 0 && peer.storingIds.size === 0 && peer.seen.size === 0) this.peers.delete(peerId);
  }
}

/** Index of the first message with a cursor above `after`. */
function firstAfter(messages: readonly UnackedMessage[], after: number): number {
  let low = 0;
  let high = messages.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((messages[middle]?.cursor ?? Infinity) <= after) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The message a record read back holds, or what is wrong with it: it must be the STORED record of this very message. */
function readBack(body: Uint8Array | Error | undefined, peerId: string, expected: UnackedMessage): StoredMessage | Error {
  if (body === undefined || body instanceof Error) return body ?? new Error('it was not read');
  let record: InboxRecord;
  try {
    record = decodeRecord(body);
  } catch (error) {
    return new Error(`the record there is not an inbox record: ${(error as Error).message}`);
  }
  if (record.kind !== 'stored') return new Error(`the record there is not a message but ${record.kind}`);
  const { message } = record;
  if (message.cursor !== expected.cursor || message.messageId !== expected.messageId || message.peerId !== peerId) {
    return new Error(`the record there is another message (cursor ${message.cursor})`);
  }
  return message;
}

/** Whether the peer already used this message id: unacked, or seen. */
function knowsId(peer: PeerState | undefined, messageId: string): boolean {
  return peer !== undefined && (peer.unacked.has(messageId) || peer.seen.has(messageId));
}

/** Seen entries of a peer, its adds being written included. */
function rememberedBy(peer: PeerState): number {
  return peer.seen.size + peer.storingIds.size;
}

/** Guards the file: operations and the network check their input earlier. */
function checkIncoming(message: ReceivedMessage): void {
  checkMessageFields(message);
  if (message.digest.length !== DIGEST_BYTES) {
    throw new P2pError('INVALID_INPUT', `a message digest has ${DIGEST_BYTES} bytes, got ${message.digest.length}`);
  }
  if (message.proof.length > MAX_PROOF_BYTES) {
    throw new P2pError('INVALID_INPUT', `a message proof has at most ${MAX_PROOF_BYTES} bytes, got ${message.proof.length}`);
  }
  const sentAt = message.sentAt.getTime();
  if (!Number.isSafeInteger(sentAt) || sentAt < 0) {
    throw new P2pError('INVALID_INPUT', `a message's sent time must be a valid date after 1970, got ${String(message.sentAt)}`);
  }
}

function storedBytes(message: StoredMessage): number {
  return 1 + 8 + messageFieldsBytes(message) + DIGEST_BYTES + 8 + 8 + 4 + message.proof.length + 4 + message.content.length;
}

function encodeStored(message: StoredMessage): Uint8Array {
  const writer = writeMessageFields(new RecordWriter(storedBytes(message)).u8(STORED).uint(message.cursor), message);
  return writer
    .bytes(message.digest)
    .uint(message.sentAt.getTime())
    .uint(message.receivedAt.getTime())
    .u32(message.proof.length)
    .bytes(message.proof)
    .u32(message.content.length)
    .bytes(message.content)
    .finish();
}

function encodeAcked(peerId: string, channel: InboxChannel, through: number): Uint8Array {
  if (channel === 'messages') return new RecordWriter(ACKED_BYTES).u8(ACKED).bytes(cachedPublicKeyFromPeerId(peerId)).uint(through).finish();
  return new RecordWriter(ACKED_CHANNEL_BYTES).u8(ACKED_CHANNEL).bytes(cachedPublicKeyFromPeerId(peerId)).u8(CHANNEL_CODES.indexOf(channel)).uint(through).finish();
}

function encodeSeen(peerId: string, messageId: string, entry: SeenEntry): Uint8Array {
  return new RecordWriter(SEEN_BYTES)
    .u8(SEEN)
    .hex(messageId, 16)
    .bytes(cachedPublicKeyFromPeerId(peerId))
    .hex(entry.digest, DIGEST_BYTES)
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
    const digest = reader.bytes(DIGEST_BYTES);
    const sentAt = new Date(reader.uint());
    const receivedAt = new Date(reader.uint());
    const proof = reader.window(reader.u32());
    const content = reader.window(reader.u32());
    record = { kind: 'stored', message: { cursor, ...fields, content, digest, proof, sentAt, receivedAt } };
  } else if (kind === ACKED) {
    record = { kind: 'acked', peerId: peerIdFromPublicKey(reader.bytes(32)), channel: 'messages', through: reader.uint() };
  } else if (kind === ACKED_CHANNEL) {
    const peerId = peerIdFromPublicKey(reader.bytes(32));
    const channel = codeOf(CHANNEL_CODES, reader.u8(), 'inbox channel');
    record = { kind: 'acked', peerId, channel, through: reader.uint() };
  } else if (kind === SEEN) {
    const messageId = hexOf(reader.bytes(16));
    const peerId = peerIdFromPublicKey(reader.bytes(32));
    record = { kind: 'seen', peerId, messageId, entry: { digest: hexOf(reader.bytes(DIGEST_BYTES)), storedAt: reader.uint() } };
  } else if (kind === HIGH_WATER) {
    record = { kind: 'high-water', cursor: reader.uint() };
  } else {
    throw new Error(`its kind is ${kind}`);
  }
  reader.finish();
  return record;
}
