import { chunkCountOf, decodeFileOffer, type FileOffer, MIN_CHUNK_SIZE } from '../wire/file-payload';
import { join } from 'node:path';
import { P2pError } from '../common/errors';
import { hexOf } from '../common/hex';
import { cachedPublicKeyFromPeerId, peerIdFromPublicKey } from '../common/peer-id';
import { quoteUntrusted } from '../common/quote-text';
import { DEFAULT_COMPACTION_MIN_BYTES, Journal } from '../store/journal';
import { RecordReader, RecordWriter, type RewriteEntry } from '../store/record-log';
import { codeOf, CORRELATION_ID_PATTERN, MESSAGE_ID_PATTERN } from '../store/record-fields';

/**
 * The file transfers of this node, both ways, durable across restarts
 * (design §3.3). The bytes travel as durable messages through the outbox
 * and the inbox; this journal keeps what a transfer is (the offer, where
 * its bytes come from), where it stands, and which chunks are done, so
 * that a restart resumes without sending again what a receipt covered,
 * and without writing a received file twice.
 *
 * A transfer is named by its peer and its transfer id (the message id of
 * the offer, picked by the sender): one key for both directions, as the
 * journal's records after OFFERED carry no direction, so an offer reusing
 * the id of a transfer of the other direction is refused (CONFLICT).
 *
 * File `<data_dir>/files.log` (record-log.ts framing), one record per
 * body, its kind in the first byte, numbers big-endian, ids raw, times f64 ms:
 *
 *   OFFERED   1 | direction u8 (0 out, 1 in) | peer key 32 | transfer id 16 | offer JSON len u32 | offer JSON
 *               | correlation len u8 | correlation | source u8 (0 folder, 1 upload, 2 remote) | source path len u16 | path
 *               | offered at f64 | expires at f64 | proof len u16 | proof (incoming only; 0 bytes otherwise)
 *   HASHES    2 | peer 32 | transfer 16 | count u32 | sha256 [32] × count      (outgoing: per-chunk hashes)
 *   STATE     3 | peer 32 | transfer 16 | state u8 | reason len u8 | reason | at f64
 *   CHUNKS    4 | peer 32 | transfer 16 | count u16 | index u32 × count       (out: delivered; in: written and fsync'd)
 *   STORED_AS 5 | peer 32 | transfer 16 | name len u16 | final file name in incoming/
 *   SENT      6 | peer 32 | transfer 16 | index u32 | message id 16           (outgoing: the chunk's message)
 *
 * Everything is held in memory too, bounded (TransferLimits): transfers not
 * finished by counts and by file size, finished ones by age and by count
 * per peer. Finished transfers past those bounds are dropped from memory
 * at open and before each new transfer, by a rule that depends only on
 * what the file holds and the clock, so no record is needed to forget
 * them; a compaction leaves them out of the file.
 */
export const TRANSFERS_FILE_NAME = 'files.log';

export type TransferDirection = 'outgoing' | 'incoming';

/** Where an outgoing transfer's bytes are: a file in files/outgoing, or an upload; an incoming one's come from the peer. */
export type TransferSource = 'folder' | 'upload' | 'remote';

export type TransferState =
  | 'hashing'
  | 'offered'
  | 'accepted'
  | 'sending'
  | 'sent'
  | 'receiving'
  | 'verifying'
  | 'received'
  | 'declined'
  | 'cancelled'
  | 'failed'
  | 'expired';

/**
 * The line each direction moves along; a transfer only moves forward on it
 * (a step may be skipped: the peer's `received` can overtake the sender's
 * `sent`), or to a final state from any state not final.
 */
export const STATE_LINES: Readonly<Record<TransferDirection, readonly TransferState[]>> = {
  outgoing: ['hashing', 'offered', 'accepted', 'sending', 'sent', 'received'],
  incoming: ['offered', 'accepted', 'receiving', 'verifying', 'received'],
};

export const FINAL_STATES: readonly TransferState[] = ['received', 'declined', 'cancelled', 'failed', 'expired'];

/** Accepted and not received yet: what counts against the pending bytes limit. */
const PENDING_INCOMING_STATES: readonly TransferState[] = ['accepted', 'receiving', 'verifying'];

export interface Transfer {
  readonly direction: TransferDirection;
  readonly peerId: string;
  readonly transferId: string;
  /** The offer as sent: what the peer's batch signature covers. */
  readonly offerJson: string;
  readonly offer: FileOffer;
  /** ⌈size / chunk size⌉. */
  readonly chunkCount: number;
  readonly correlationId: string | null;
  readonly source: TransferSource;
  /** The path relative to files/outgoing, the upload id, or "" for an incoming transfer. */
  readonly sourcePath: string;
  readonly offeredAt: number;
  readonly expiresAt: number;
  /** The stored proof of the offer's batch (incoming); null for outgoing. */
  readonly proof: Uint8Array | null;
  /** sha256 of each chunk, 32 bytes each in index order (outgoing, once hashed). */
  readonly chunkHashes: Uint8Array | null;
  readonly state: TransferState;
  /** Why it ended, for the final states that have a why: a reason code of file_control. */
  readonly reason: string | null;
  readonly updatedAt: number;
  /** Outgoing: delivered; incoming: written and fsync'd. */
  readonly chunksDone: ReadonlySet<number>;
  /** Outgoing: chunks handed to the messenger and not done yet, with their message ids (what a restart asks the outbox about). */
  readonly chunksSent: ReadonlyMap<number, string>;
  /** Incoming: the name the file got in files/incoming. */
  readonly storedAs: string | null;
}

/** What the caller knows of a new transfer; state, times and chunk progress are the store's. */
export interface NewTransfer {
  direction: TransferDirection;
  peerId: string;
  transferId: string;
  offerJson: string;
  correlationId: string | null;
  source: TransferSource;
  sourcePath: string;
  expiresAt: number;
  proof: Uint8Array | null;
  /**
   * A final state the transfer starts in: an offer declined on arrival
   * (`too_large`, `limit`) is listed so the user sees why, yet holds
   * nothing open, so the limits on open transfers do not apply to it.
   */
  endedAs?: { state: 'declined'; reason: string } | undefined;
}

export interface TransferLimits {
  /** Outgoing transfers not finished, all peers (P2P_COMM_FILE_MAX_OUTGOING). */
  maxOutgoing: number;
  /** Incoming offers not answered yet, per peer (P2P_COMM_FILE_MAX_OFFERS_PER_PEER). */
  maxOffersPerPeer: number;
  /** Largest file of a transfer not ended at once (P2P_COMM_FILE_MAX_BYTES): bounds its chunk records. */
  maxFileBytes: number;
  /** How long a finished transfer stays listed. */
  retentionMs: number;
  /** Finished transfers kept per peer, the newest: a peer whose offers are all declined cannot fill memory with them. */
  maxFinishedPerPeer: number;
  /** How long a CHUNKS record written lazily waits for a write to carry it. */
  lazyFlushMs: number;
  /** Size below which files.log is never compacted (journal.ts). */
  compactionMinBytes: number;
}

export const DEFAULT_TRANSFER_LIMITS: TransferLimits = {
  maxOutgoing: 64,
  maxOffersPerPeer: 16,
  maxFileBytes: 1024 * 1024 * 1024,
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  maxFinishedPerPeer: 256,
  lazyFlushMs: 50,
  compactionMinBytes: DEFAULT_COMPACTION_MIN_BYTES,
};

export class TransferStore {
  private readonly transfers = new Map<string, Entry>();
  private readonly journal: Journal;

  private constructor(
    dataDir: string,
    /** Read by the receiver, which declines on arrival the offers these would refuse. */
    readonly limits: TransferLimits,
    private readonly now: () => number,
  ) {
    this.journal = Journal.open(
      join(dataDir, TRANSFERS_FILE_NAME),
      {
        name: 'file transfer log',
        costOfMovingAway: 'the file transfers under way and their history are then lost; their part files stay in files/.partial',
        maxRecordBytes: maxRecordBytesFor(limits.maxFileBytes),
        lazyFlushMs: limits.lazyFlushMs,
        compactionMinBytes: limits.compactionMinBytes,
      },
      decodeRecord,
      (record, place) => this.apply(record, place.length),
    );
    this.forgetFinished();
  }

  static open(dataDir: string, limits: Partial<TransferLimits> = {}, now: () => number = Date.now): TransferStore {
    return new TransferStore(dataDir, { ...DEFAULT_TRANSFER_LIMITS, ...limits }, now);
  }

  /** The transfer as memory holds it: later records change what it shows. */
  get(peerId: string, transferId: string): Transfer | undefined {
    return this.transfers.get(keyOf(peerId, transferId));
  }

  /** In the order they were offered. */
  list(filter: { peerId?: string; direction?: TransferDirection } = {}): Transfer[] {
    return [...this.transfers.values()]
      .filter((transfer) => (filter.peerId === undefined || transfer.peerId === filter.peerId) && (filter.direction === undefined || transfer.direction === filter.direction))
      .sort((a, b) => a.offeredAt - b.offeredAt);
  }

  openOutgoingCount(): number {
    return this.list({ direction: 'outgoing' }).filter((transfer) => !isFinal(transfer.state)).length;
  }

  /** Incoming offers of this peer not answered yet. */
  openOffersFrom(peerId: string): number {
    return this.list({ peerId, direction: 'incoming' }).filter((transfer) => transfer.state === 'offered').length;
  }

  /** Sizes of the incoming transfers accepted and not received yet, all peers. */
  pendingIncomingBytes(): number {
    let total = 0;
    for (const transfer of this.transfers.values()) if (transfer.direction === 'incoming' && PENDING_INCOMING_STATES.includes(transfer.state)) total += transfer.offer.size;
    return total;
  }

  /**
   * Records a new transfer (OFFERED, then STATE if it starts ended). The
   * same offer again (an inbox replay after a crash) returns the transfer
   * recorded, ended first if it was to start ended and a crash came between
   * the two records; another offer under its key is a CONFLICT. An open transfer must
   * fit the limits: FILE_LIMIT otherwise.
   */
  async addTransfer(input: NewTransfer): Promise<Transfer> {
    const record = offeredRecord(input, this.now());
    const existing = this.transfers.get(keyOf(input.peerId, input.transferId));
    if (existing !== undefined) {
      if (existing.direction === input.direction && existing.offerJson === input.offerJson) {
        // A crash between OFFERED and its STATE left it open: the offer handed over again finishes it.
        if (input.endedAs !== undefined && existing.state === 'offered') await this.setState(input.peerId, input.transferId, input.endedAs.state, input.endedAs.reason);
        return existing;
      }
      throw new P2pError('CONFLICT', `a transfer ${input.transferId} with ${input.peerId} is recorded already, with another offer or the other way`);
    }
    if (input.endedAs === undefined) this.checkRoomFor(record);
    this.forgetFinished();
    await this.commit(record);
    if (input.endedAs !== undefined) await this.setState(input.peerId, input.transferId, input.endedAs.state, input.endedAs.reason);
    return this.entry(input.peerId, input.transferId);
  }

  /** The per-chunk hashes of an outgoing transfer, once, while it is hashing; the same hashes again change nothing. */
  async setChunkHashes(peerId: string, transferId: string, hashes: Uint8Array): Promise<void> {
    const transfer = this.entry(peerId, transferId);
    if (transfer.direction !== 'outgoing') throw new P2pError('CONFLICT', `transfer ${transferId} is incoming: only an outgoing transfer has its chunks hashed here`);
    if (hashes.length !== 32 * transfer.chunkCount) {
      throw new RangeError(`transfer ${transferId} has ${transfer.chunkCount} chunks, so ${32 * transfer.chunkCount} bytes of hashes, not ${hashes.length}`);
    }
    if (transfer.chunkHashes !== null) {
      if (Buffer.from(transfer.chunkHashes).equals(hashes)) return;
      throw new P2pError('CONFLICT', `transfer ${transferId} has other chunk hashes recorded already`);
    }
    if (transfer.state !== 'hashing') throw new P2pError('CONFLICT', `transfer ${transferId} is ${transfer.state}, no longer hashing`);
    await this.commit({ kind: 'hashes', peerId, transferId, hashes: new Uint8Array(hashes) });
  }

  /**
   * Moves the transfer to `state`: forward on its direction's line, or to a
   * final state. True when recorded; false when it is in that state already
   * (a repeat). A final transfer does not move again (CONFLICT), nor does
   * one asked to go back.
   */
  async setState(peerId: string, transferId: string, state: TransferState, reason: string | null = null): Promise<boolean> {
    const transfer = this.entry(peerId, transferId);
    if (reason !== null && !REASON_PATTERN.test(reason)) throw new RangeError(`a reason is a code of a-z, 0-9 and _, got ${quoteUntrusted(reason)}`);
    if (transfer.state === state) return false;
    if (isFinal(transfer.state)) throw new P2pError('CONFLICT', `transfer ${transferId} is ${transfer.state} already and cannot become ${state}`);
    const line = STATE_LINES[transfer.direction];
    if (!isFinal(state)) {
      if (!line.includes(state)) throw new P2pError('CONFLICT', `an ${transfer.direction} transfer is never ${state}`);
      if (line.indexOf(state) < line.indexOf(transfer.state)) throw new P2pError('CONFLICT', `transfer ${transferId} is ${transfer.state} already and does not go back to ${state}`);
    }
    await this.commit({ kind: 'state', peerId, transferId, state, reason, at: this.now() });
    return true;
  }

  /**
   * Records chunks done, in any order; those recorded already are left
   * out, and a finished transfer records none (a receipt that comes after
   * the end says nothing new). Returns the indexes newly recorded. Lazy
   * (the sender's settle hook): the record is applied at once and rides on
   * the next write, within lazyFlushMs; losing it in a crash only means a
   * restart asks the outbox about those chunks again (design §3.3).
   */
  async addChunksDone(peerId: string, transferId: string, indexes: readonly number[], options: { lazy?: boolean } = {}): Promise<number[]> {
    const transfer = this.entry(peerId, transferId);
    for (const index of indexes) checkIndex(transfer, index);
    if (isFinal(transfer.state)) return [];
    const added = [...new Set(indexes)].filter((index) => !transfer.chunksDone.has(index)).sort((a, b) => a - b);
    for (let start = 0; start < added.length; start += MAX_INDEXES_PER_RECORD) {
      const record: TransferRecord = { kind: 'chunks', peerId, transferId, indexes: added.slice(start, start + MAX_INDEXES_PER_RECORD) };
      if (options.lazy === true) this.commitLazy(record);
      else await this.commit(record);
    }
    return added;
  }

  /** An outgoing chunk handed to the messenger as this message; committed with the outbox add, before the chunk counts as pending. */
  async recordSent(peerId: string, transferId: string, index: number, messageId: string): Promise<void> {
    const transfer = this.entry(peerId, transferId);
    if (transfer.direction !== 'outgoing') throw new P2pError('CONFLICT', `transfer ${transferId} is incoming: only outgoing chunks are sent`);
    checkIndex(transfer, index);
    if (!MESSAGE_ID_PATTERN.test(messageId)) throw new RangeError(`a message id is 32 lower-case hex characters, got ${quoteUntrusted(messageId)}`);
    if (transfer.chunksDone.has(index) || transfer.chunksSent.get(index) === messageId) return;
    await this.commit({ kind: 'sent', peerId, transferId, index, messageId });
  }

  /** The name an incoming file got in files/incoming; the same name again changes nothing, another is a CONFLICT. */
  async recordStoredAs(peerId: string, transferId: string, name: string): Promise<void> {
    const transfer = this.entry(peerId, transferId);
    if (transfer.direction !== 'incoming') throw new P2pError('CONFLICT', `transfer ${transferId} is outgoing: only a received file is stored`);
    checkStoredName(name);
    if (transfer.storedAs === name) return;
    if (transfer.storedAs !== null) throw new P2pError('CONFLICT', `transfer ${transferId} is stored as ${quoteUntrusted(transfer.storedAs)} already`);
    await this.commit({ kind: 'stored_as', peerId, transferId, name });
  }

  close(): Promise<void> {
    return this.journal.close();
  }

  private entry(peerId: string, transferId: string): Entry {
    const transfer = this.transfers.get(keyOf(peerId, transferId));
    if (transfer === undefined) throw new P2pError('NOT_FOUND', `no file transfer ${quoteUntrusted(transferId)} with ${quoteUntrusted(peerId)} is recorded`);
    return transfer;
  }

  private checkRoomFor(record: OfferedRecord): void {
    const { size } = record.offer;
    if (size > this.limits.maxFileBytes) {
      throw new P2pError('FILE_LIMIT', `${quoteUntrusted(record.offer.name)} has ${size} bytes, more than the ${this.limits.maxFileBytes} allowed for one file (P2P_COMM_FILE_MAX_BYTES)`);
    }
    if (record.direction === 'outgoing' && this.openOutgoingCount() >= this.limits.maxOutgoing) {
      throw new P2pError(
        'FILE_LIMIT',
        `${this.limits.maxOutgoing} outgoing file transfers are not finished, the most at once (P2P_COMM_FILE_MAX_OUTGOING): wait for some to finish, or cancel one with cancel_file`,
      );
    }
    if (record.direction === 'incoming' && this.openOffersFrom(record.peerId) >= this.limits.maxOffersPerPeer) {
      throw new P2pError(
        'FILE_LIMIT',
        `${this.limits.maxOffersPerPeer} file offers of ${record.peerId} are not answered yet, the most per peer (P2P_COMM_FILE_MAX_OFFERS_PER_PEER)`,
      );
    }
  }

  /** Drops from memory the finished transfers past the retention, and beyond the newest maxFinishedPerPeer of each peer. */
  private forgetFinished(): void {
    const cutoff = this.now() - this.limits.retentionMs;
    const finishedByPeer = new Map<string, Entry[]>();
    for (const transfer of this.transfers.values()) {
      if (!isFinal(transfer.state)) continue;
      if (transfer.updatedAt < cutoff) {
        this.transfers.delete(keyOf(transfer.peerId, transfer.transferId));
        continue;
      }
      const finished = finishedByPeer.get(transfer.peerId) ?? [];
      finished.push(transfer);
      finishedByPeer.set(transfer.peerId, finished);
    }
    for (const finished of finishedByPeer.values()) {
      if (finished.length <= this.limits.maxFinishedPerPeer) continue;
      finished.sort((a, b) => b.updatedAt - a.updatedAt || b.offeredAt - a.offeredAt);
      for (const transfer of finished.slice(this.limits.maxFinishedPerPeer)) this.transfers.delete(keyOf(transfer.peerId, transfer.transferId));
    }
  }

  private async commit(record: TransferRecord): Promise<void> {
    const compaction = this.journal.compactIfDue(this.liveBytes(), () => this.snapshot());
    if (compaction !== undefined) await compaction;
    const body = encodeRecord(record);
    await this.journal.commit(body, () => this.apply(record, body.length));
  }

  private commitLazy(record: TransferRecord): void {
    const body = encodeRecord(record);
    this.journal.commitLazy(body);
    this.apply(record, body.length);
  }

  /**
   * The bytes of the records of the transfers memory holds: what a
   * compaction would keep, at most (a compaction writes one STATE where
   * several were). Forgetting a transfer takes its bytes out, so a file
   * of mostly forgotten transfers gets compacted.
   */
  private liveBytes(): number {
    let total = 0;
    for (const transfer of this.transfers.values()) total += transfer.recordBytes;
    return total;
  }

  /** Every transfer memory holds as the records that rebuild it. */
  private snapshot(): RewriteEntry[] {
    const entries: Uint8Array[] = [];
    for (const transfer of this.transfers.values()) {
      const bodies = recordsOf(transfer).map(encodeRecord);
      transfer.recordBytes = bodies.reduce((sum, body) => sum + body.length, 0);
      entries.push(...bodies);
    }
    return entries;
  }

  /** Replays trust the file: a record for a transfer no longer held (forgotten) is skipped. */
  private apply(record: TransferRecord, length: number): void {
    if (record.kind === 'offered') {
      this.transfers.set(keyOf(record.peerId, record.transferId), entryOf(record, length));
      return;
    }
    const transfer = this.transfers.get(keyOf(record.peerId, record.transferId));
    if (transfer === undefined) return;
    transfer.recordBytes += length;
    switch (record.kind) {
      case 'hashes':
        transfer.chunkHashes = record.hashes;
        break;
      case 'state':
        transfer.state = record.state;
        transfer.reason = record.reason;
        transfer.updatedAt = record.at;
        break;
      case 'chunks':
        for (const index of record.indexes) {
          if (index >= transfer.chunkCount) continue;
          transfer.chunksDone.add(index);
          transfer.chunksSent.delete(index);
        }
        break;
      case 'stored_as':
        transfer.storedAs = record.name;
        break;
      case 'sent':
        if (!transfer.chunksDone.has(record.index)) transfer.chunksSent.set(record.index, record.messageId);
        break;
    }
  }
}

/** Bytes of the file the chunks done hold: every chunk is chunkSize bytes but the last. */
export function bytesDone(transfer: Transfer): number {
  const { size, chunkSize } = transfer.offer;
  let total = transfer.chunksDone.size * chunkSize;
  if (transfer.chunksDone.has(transfer.chunkCount - 1)) total -= transfer.chunkCount * chunkSize - size;
  return total;
}

export function isFinal(state: TransferState): boolean {
  return FINAL_STATES.includes(state);
}

/** The sha256 of one chunk from the hashing pass, or null before it. */
export function chunkHash(transfer: Transfer, index: number): Uint8Array | null {
  if (transfer.chunkHashes === null || index < 0 || index >= transfer.chunkCount) return null;
  return transfer.chunkHashes.subarray(32 * index, 32 * (index + 1));
}

/**
 * The offer out of its JSON, by the wire codec's rules: the file must only
 * hold what the codec reads back, so that it cannot make the store
 * miscount chunks. Throws, naming the problem.
 */
function parseOffer(offerJson: string): FileOffer {
  return decodeFileOffer(Buffer.from(offerJson, 'utf8'));
}

/** A transfer as memory holds it, with the bytes of its records in the file (see liveBytes). */
type Entry = { -readonly [K in keyof Transfer]: Transfer[K] } & { chunksDone: Set<number>; chunksSent: Map<number, string>; recordBytes: number };

interface OfferedRecord {
  kind: 'offered';
  direction: TransferDirection;
  peerId: string;
  transferId: string;
  offerJson: string;
  offer: FileOffer;
  correlationId: string | null;
  source: TransferSource;
  sourcePath: string;
  offeredAt: number;
  expiresAt: number;
  proof: Uint8Array | null;
}

type TransferRecord =
  | OfferedRecord
  | { kind: 'hashes'; peerId: string; transferId: string; hashes: Uint8Array }
  | { kind: 'state'; peerId: string; transferId: string; state: TransferState; reason: string | null; at: number }
  | { kind: 'chunks'; peerId: string; transferId: string; indexes: number[] }
  | { kind: 'stored_as'; peerId: string; transferId: string; name: string }
  | { kind: 'sent'; peerId: string; transferId: string; index: number; messageId: string };

const RECORD_KINDS = ['offered', 'hashes', 'state', 'chunks', 'stored_as', 'sent'] as const;
const DIRECTIONS: readonly TransferDirection[] = ['outgoing', 'incoming'];
const SOURCES: readonly TransferSource[] = ['folder', 'upload', 'remote'];
const STATES: readonly TransferState[] = ['hashing', 'offered', 'accepted', 'sending', 'sent', 'receiving', 'verifying', 'received', 'declined', 'cancelled', 'failed', 'expired'];

/** peer key 32 + transfer id 16, after the kind byte. */
const KEY_BYTES = 1 + 32 + 16;

/** A CHUNKS record counts its indexes in a u16. */
const MAX_INDEXES_PER_RECORD = 0xffff;

const MAX_U16 = 0xffff;

/** The smallest record limit: OFFERED with the longest path and proof fits well within it. */
const MIN_MAX_RECORD_BYTES = 4 * 1024 * 1024;

/** The reason codes of file_control (wire/file-payload.ts), and the store's own (`revoked`, …). */
const REASON_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
const TRANSFER_ID_PATTERN = /^[0-9a-f]{32}$/;

/** Large enough for the HASHES record of the largest file at the smallest chunk; never smaller than MIN_MAX_RECORD_BYTES, so lowering the file limit never makes a file written before unreadable. */
function maxRecordBytesFor(maxFileBytes: number): number {
  return Math.max(MIN_MAX_RECORD_BYTES, KEY_BYTES + 4 + 32 * chunkCountOf(maxFileBytes, MIN_CHUNK_SIZE));
}

function keyOf(peerId: string, transferId: string): string {
  return `${peerId} ${transferId}`;
}

/** Checks what the caller gives before anything is written: the file must only hold what it can read back. */
function offeredRecord(input: NewTransfer, now: number): OfferedRecord {
  cachedPublicKeyFromPeerId(input.peerId);
  if (!TRANSFER_ID_PATTERN.test(input.transferId)) throw new P2pError('INVALID_INPUT', `a transfer id is 32 lower-case hex characters, got ${quoteUntrusted(input.transferId)}`);
  let offer: FileOffer;
  try {
    offer = parseOffer(input.offerJson);
  } catch (error) {
    throw new P2pError('INVALID_INPUT', `the offer of transfer ${input.transferId} cannot be recorded: ${(error as Error).message}`);
  }
  if (input.correlationId !== null && !CORRELATION_ID_PATTERN.test(input.correlationId)) {
    throw new P2pError('INVALID_INPUT', `a correlation id is 1 to 128 characters A-Z, a-z, 0-9 and . _ : -, got ${quoteUntrusted(input.correlationId)}`);
  }
  if ((input.direction === 'incoming') !== (input.source === 'remote')) throw new P2pError('INVALID_INPUT', 'an incoming transfer comes from the peer (source remote), an outgoing one from a folder or an upload');
  if (Buffer.byteLength(input.sourcePath, 'utf8') > MAX_U16) throw new P2pError('INVALID_INPUT', `a source path is at most ${MAX_U16} bytes`);
  if (input.proof !== null && (input.direction !== 'incoming' || input.proof.length > MAX_U16)) throw new P2pError('INVALID_INPUT', `only an incoming transfer has a proof, of at most ${MAX_U16} bytes`);
  if (!Number.isSafeInteger(input.expiresAt) || input.expiresAt < 0) throw new RangeError(`an expiry is a time in ms, got ${input.expiresAt}`);
  return {
    kind: 'offered',
    direction: input.direction,
    peerId: input.peerId,
    transferId: input.transferId,
    offerJson: input.offerJson,
    offer,
    correlationId: input.correlationId,
    source: input.source,
    sourcePath: input.sourcePath,
    offeredAt: now,
    expiresAt: input.expiresAt,
    // An empty proof reads back as none: one form for both.
    proof: input.proof !== null && input.proof.length > 0 ? new Uint8Array(input.proof) : null,
  };
}

function checkIndex(transfer: Transfer, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= transfer.chunkCount) {
    throw new RangeError(`transfer ${transfer.transferId} has chunks 0 to ${transfer.chunkCount - 1}, not ${index}`);
  }
}

function checkStoredName(name: string): void {
  if (name.length === 0 || name.includes('/') || name.includes('\0') || name === '.' || name === '..' || Buffer.byteLength(name, 'utf8') > MAX_U16) {
    throw new RangeError(`a stored file name is one plain name in files/incoming, got ${quoteUntrusted(name)}`);
  }
}

function entryOf(record: OfferedRecord, recordBytes: number): Entry {
  return {
    recordBytes,
    direction: record.direction,
    peerId: record.peerId,
    transferId: record.transferId,
    offerJson: record.offerJson,
    offer: record.offer,
    chunkCount: chunkCountOf(record.offer.size, record.offer.chunkSize),
    correlationId: record.correlationId,
    source: record.source,
    sourcePath: record.sourcePath,
    offeredAt: record.offeredAt,
    expiresAt: record.expiresAt,
    proof: record.proof,
    chunkHashes: null,
    state: STATE_LINES[record.direction][0] as TransferState,
    reason: null,
    updatedAt: record.offeredAt,
    chunksDone: new Set(),
    chunksSent: new Map(),
    storedAs: null,
  };
}

/** The records that rebuild a transfer as memory holds it: what a compaction writes. */
function recordsOf(transfer: Transfer): TransferRecord[] {
  const { peerId, transferId } = transfer;
  const records: TransferRecord[] = [
    {
      kind: 'offered',
      direction: transfer.direction,
      peerId,
      transferId,
      offerJson: transfer.offerJson,
      offer: transfer.offer,
      correlationId: transfer.correlationId,
      source: transfer.source,
      sourcePath: transfer.sourcePath,
      offeredAt: transfer.offeredAt,
      expiresAt: transfer.expiresAt,
      proof: transfer.proof,
    },
  ];
  if (transfer.chunkHashes !== null) records.push({ kind: 'hashes', peerId, transferId, hashes: transfer.chunkHashes });
  const done = [...transfer.chunksDone].sort((a, b) => a - b);
  for (let start = 0; start < done.length; start += MAX_INDEXES_PER_RECORD) records.push({ kind: 'chunks', peerId, transferId, indexes: done.slice(start, start + MAX_INDEXES_PER_RECORD) });
  for (const [index, messageId] of transfer.chunksSent) records.push({ kind: 'sent', peerId, transferId, index, messageId });
  if (transfer.storedAs !== null) records.push({ kind: 'stored_as', peerId, transferId, name: transfer.storedAs });
  if (transfer.state !== STATE_LINES[transfer.direction][0] || transfer.reason !== null) {
    records.push({ kind: 'state', peerId, transferId, state: transfer.state, reason: transfer.reason, at: transfer.updatedAt });
  }
  return records;
}

function encodeRecord(record: TransferRecord): Uint8Array {
  const kind = RECORD_KINDS.indexOf(record.kind) + 1;
  switch (record.kind) {
    case 'offered': {
      const offer = Buffer.from(record.offerJson, 'utf8');
      const correlation = record.correlationId ?? '';
      const path = Buffer.from(record.sourcePath, 'utf8');
      const proof = record.proof ?? new Uint8Array(0);
      const writer = new RecordWriter(KEY_BYTES + 1 + 4 + offer.length + 1 + correlation.length + 1 + 2 + path.length + 8 + 8 + 2 + proof.length)
        .u8(kind)
        .u8(DIRECTIONS.indexOf(record.direction));
      writeKey(writer, record)
        .u32(offer.length)
        .bytes(offer)
        .u8(correlation.length)
        .latin1(correlation)
        .u8(SOURCES.indexOf(record.source));
      writeU16(writer, path.length).bytes(path).uint(record.offeredAt).uint(record.expiresAt);
      return writeU16(writer, proof.length).bytes(proof).finish();
    }
    case 'hashes':
      return writeKey(new RecordWriter(KEY_BYTES + 4 + record.hashes.length).u8(kind), record)
        .u32(record.hashes.length / 32)
        .bytes(record.hashes)
        .finish();
    case 'state': {
      const reason = record.reason ?? '';
      return writeKey(new RecordWriter(KEY_BYTES + 1 + 1 + reason.length + 8).u8(kind), record)
        .u8(STATES.indexOf(record.state))
        .u8(reason.length)
        .latin1(reason)
        .uint(record.at)
        .finish();
    }
    case 'chunks': {
      const writer = writeKey(new RecordWriter(KEY_BYTES + 2 + 4 * record.indexes.length).u8(kind), record);
      writeU16(writer, record.indexes.length);
      for (const index of record.indexes) writer.u32(index);
      return writer.finish();
    }
    case 'stored_as': {
      const name = Buffer.from(record.name, 'utf8');
      return writeU16(writeKey(new RecordWriter(KEY_BYTES + 2 + name.length).u8(kind), record), name.length)
        .bytes(name)
        .finish();
    }
    case 'sent':
      return writeKey(new RecordWriter(KEY_BYTES + 4 + 16).u8(kind), record)
        .u32(record.index)
        .hex(record.messageId, 16)
        .finish();
  }
}

/**
 * Strict: a record that does not fit its layout, or an offer without what
 * the store relies on, makes the file corrupt (Journal says so), rather
 * than a transfer counted wrong.
 */
function decodeRecord(body: Uint8Array): TransferRecord {
  const reader = new RecordReader(body);
  const kind = codeOf(RECORD_KINDS, reader.u8() - 1, 'file transfer record kind');
  const direction = kind === 'offered' ? codeOf(DIRECTIONS, reader.u8(), 'transfer direction') : undefined;
  const peerId = peerIdFromPublicKey(reader.bytes(32));
  const transferId = hexOf(reader.bytes(16));
  let record: TransferRecord;
  switch (kind) {
    case 'offered': {
      const offerJson = new TextDecoder('utf-8', { fatal: true }).decode(reader.window(reader.u32()));
      const correlationLength = reader.u8();
      const correlationId = correlationLength === 0 ? null : Buffer.from(reader.window(correlationLength)).toString('latin1');
      if (correlationId !== null && !CORRELATION_ID_PATTERN.test(correlationId)) throw new Error('its correlation id is not one');
      const source = codeOf(SOURCES, reader.u8(), 'transfer source');
      const sourcePath = new TextDecoder('utf-8', { fatal: true }).decode(reader.window(readU16(reader)));
      const offeredAt = reader.uint();
      const expiresAt = reader.uint();
      const proofLength = readU16(reader);
      if (direction !== 'incoming' && proofLength !== 0) throw new Error('it holds a proof for an outgoing transfer');
      const proof = proofLength === 0 ? null : reader.bytes(proofLength);
      const offer = parseOffer(offerJson);
      record = { kind, direction: direction as TransferDirection, peerId, transferId, offerJson, offer, correlationId, source, sourcePath, offeredAt, expiresAt, proof };
      break;
    }
    case 'hashes':
      record = { kind, peerId, transferId, hashes: reader.bytes(32 * reader.u32()) };
      break;
    case 'state': {
      const state = codeOf(STATES, reader.u8(), 'transfer state');
      const reasonLength = reader.u8();
      const reason = reasonLength === 0 ? null : Buffer.from(reader.window(reasonLength)).toString('latin1');
      if (reason !== null && !REASON_PATTERN.test(reason)) throw new Error('its reason is not a reason code');
      record = { kind, peerId, transferId, state, reason, at: reader.uint() };
      break;
    }
    case 'chunks': {
      const count = readU16(reader);
      const indexes: number[] = [];
      for (let i = 0; i < count; i += 1) indexes.push(reader.u32());
      record = { kind, peerId, transferId, indexes };
      break;
    }
    case 'stored_as':
      record = { kind, peerId, transferId, name: new TextDecoder('utf-8', { fatal: true }).decode(reader.window(readU16(reader))) };
      break;
    case 'sent':
      record = { kind, peerId, transferId, index: reader.u32(), messageId: hexOf(reader.bytes(16)) };
      break;
  }
  reader.finish();
  return record;
}

function writeKey(writer: RecordWriter, record: { peerId: string; transferId: string }): RecordWriter {
  return writer.bytes(cachedPublicKeyFromPeerId(record.peerId)).hex(record.transferId, 16);
}

/** RecordWriter has no u16; two bytes, big-endian, as the layout says. */
function writeU16(writer: RecordWriter, value: number): RecordWriter {
  if (!Number.isInteger(value) || value < 0 || value > MAX_U16) throw new RangeError(`${value} does not fit a u16`);
  return writer.u8(value >> 8).u8(value & 0xff);
}

function readU16(reader: RecordReader): number {
  return (reader.u8() << 8) | reader.u8();
}
