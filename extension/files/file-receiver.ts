import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { type FileHandle, open, rm, stat } from 'node:fs/promises';
import { isErrnoException } from '../common/atomic-file';
import { P2pError } from '../common/errors';
import { hexOf } from '../common/hex';
import { quoteUntrusted } from '../common/quote-text';
import type { Logger } from '../log';
import { decodeContent } from '../messaging/payload';
import { channelOf, type InboxStore, type StoredMessage } from '../store/inbox';
import type { FileChunk, FileControl, FileOffer } from '../wire/file-payload';
import { checkFreeSpace, describeBytes, type FileFolders, linkIntoIncoming, partFilePath, PRIVATE_FILE_MODE } from './file-folders';
import { bytesDone, isFinal, type Transfer, type TransferState, type TransferStore } from './transfer-store';
import { PerPeerLock } from './per-peer-lock';
import { ChannelDrain } from '../store/channel-drain';

/**
 * The receiving side of file transfers (design §3): reads the inbox's
 * `files` channel of each peer, records offers, writes the chunks of
 * accepted transfers into their part files, checks the whole file's
 * SHA-256 against the offer and only then links it into files/incoming.
 *
 * Order of writes, so that a crash anywhere loses nothing and stores
 * nothing twice: a chunk is written at its offset in the part file, the
 * part fsync'd, the chunk recorded done in files.log, and only then is the
 * inbox acked. A crash before the record hands the chunk over again, and
 * rewriting it at its offset changes nothing; a chunk recorded done is
 * acked without a rewrite. Controls that end a transfer are sent before
 * the state they announce is recorded: a crash in between sends them
 * again, which the peer takes as a repeat. `accept` is the exception: it
 * is recorded first, because chunks answering an accept this node did not
 * record would be dropped; a start sends `accept` again for every accepted
 * transfer that has no chunk yet, and the sender takes a repeat as "send
 * what is missing".
 *
 * A control that cannot be sent (the pairing is gone, the outbox is full)
 * never stops the channel: it is logged, and the transfer it concerns ends.
 *
 * The controls of the peer about this node's own offers (accept, decline,
 * received, failed) arrive on the same channel; they are handed to the
 * sending side through `outgoingControl`.
 */
export interface FileReceiverConfig {
  /** Accepted incoming bytes not received yet, all peers (P2P_COMM_FILE_MAX_PENDING_BYTES). */
  maxPendingBytes: number;
  /** How long an offer, and the transfer it starts, lives (P2P_COMM_FILE_TTL_SECONDS). */
  ttlSeconds: number;
  /** Least time between two progress events of a transfer, besides one at each tenth (P2P_COMM_FILE_PROGRESS_MS). */
  progressIntervalMs: number;
  /** Messages read from the inbox at a time: their chunks share one fsync per part file and one record. */
  inboxBatch: number;
  /** Free space kept beyond the bytes still to come when a transfer is accepted. */
  freeSpaceMarginBytes: number;
}

export const DEFAULT_FILE_RECEIVER_CONFIG: FileReceiverConfig = {
  maxPendingBytes: 4 * 1024 * 1024 * 1024,
  ttlSeconds: 7 * 24 * 60 * 60,
  progressIntervalMs: 1_000,
  inboxBatch: 64,
  freeSpaceMarginBytes: 256 * 1024 * 1024,
};

/** What the receiver sends: its answers to offers. The messenger is one; a test gives a fake. */
export interface FileControlSender {
  send(request: { peer: string; type: 'file_control'; content: FileControl; correlationId: string; ttlSeconds: number | null }): Promise<unknown>;
}

export interface FileReceiverDeps {
  inbox: InboxStore;
  transfers: TransferStore;
  folders: FileFolders;
  messenger: FileControlSender;
  events: { enqueue(event: { type: string; subject?: string; data: Record<string, unknown> }): void };
  /** The paired peers: whose inbox is read at start. */
  peers: () => Iterable<string>;
  /** Whether the peer is paired now: file messages of a peer no longer paired are dropped, uncharged, and acked. */
  isPaired: (peerId: string) => boolean;
  /** Counts a refusal of a peer's input and, when charged, takes it from the peer's refusal budget: the network's refuse. */
  refuse: (peerId: string, reason: string, charged: boolean) => void;
  /** A control of the peer about a transfer this node offered: the sending side's. Without one such controls are dropped, counted. */
  outgoingControl?: ((peerId: string, transferId: string, control: FileControl) => Promise<void>) | undefined;
  logger: Logger;
  config: FileReceiverConfig;
  now?: () => number;
}

/** Counters since start, for `status`. */
export interface FileReceiverCounters {
  /** Chunks written and recorded. */
  chunksReceived: number;
  /** Chunks that came again after they were recorded: acked without a rewrite. */
  chunksDuplicate: number;
}

/** States of an incoming transfer whose chunks are taken. */
const RECEIVING_STATES: readonly TransferState[] = ['accepted', 'receiving'];

/** A part file's chunks written in the current batch, not yet fsync'd nor recorded. */
interface PartWrite {
  transferId: string;
  handle: FileHandle;
  indexes: Set<number>;
}

export class FileReceiver {
  private readonly drain = new ChannelDrain(
    (peerId) => this.drainAll(peerId),
    (peerId, error) => this.deps.logger.error(`file messages from ${peerId} could not be taken: ${error.message}; they stay in the inbox and are taken at the next start`),
  );
  /** A batch, an accept and a decline of one peer's transfers run one after the other. */
  private readonly lock = new PerPeerLock();
  /** Work started outside a drain (completions resumed at start). */
  private readonly running = new Set<Promise<void>>();
  /** Per transfer, when its last progress event went out and at which tenth. */
  private readonly progress = new Map<string, { at: number; tenth: number }>();
  private readonly counters: FileReceiverCounters = { chunksReceived: 0, chunksDuplicate: 0 };
  private readonly now: () => number;
  private closed = false;
  private readonly onStored = (message: StoredMessage): void => {
    if (channelOf(message.type) === 'files') this.drain.schedule(message.peerId);
  };

  constructor(private readonly deps: FileReceiverDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Finishes what a stop interrupted, then follows the inbox: part files of
   * ended transfers are removed, a transfer whose chunks are all recorded
   * is verified (or, linked already, finished), and what arrived while the
   * node was down is read.
   */
  start(): void {
    this.deps.inbox.on('stored', this.onStored);
    for (const transfer of this.deps.transfers.list({ direction: 'incoming' })) {
      if (isFinal(transfer.state)) this.track(this.removePart(transfer));
      else if (isComplete(transfer)) this.track(this.lock.run(transfer.peerId, () => this.complete(transfer.peerId, transfer.transferId)));
      else if (transfer.state === 'accepted' && transfer.chunksDone.size === 0 && this.deps.isPaired(transfer.peerId)) {
        // A stop may have come between recording the accept and sending it: the sender takes a repeat as "send what is missing".
        this.track(this.lock.run(transfer.peerId, () => this.sendAccept(transfer)));
      }
    }
    for (const peerId of this.deps.peers()) if (this.deps.inbox.hasMessagesAfter(peerId, 0, 'files')) this.drain.schedule(peerId);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.deps.inbox.off('stored', this.onStored);
    await this.drain.close();
    await this.whenIdle();
  }

  /** Resolves once no drain and no resumed work runs: everything stored so far is taken. */
  async whenIdle(): Promise<void> {
    while (this.drain.busy || this.running.size > 0) await Promise.all([this.drain.whenIdle(), ...this.running]);
  }

  stats(): FileReceiverCounters {
    return { ...this.counters };
  }

  /**
   * Accepts an offered file: checks the limits and the free space (each a
   * FILE_LIMIT naming the number and the setting), records the transfer
   * accepted (its chunks are taken from then on), then sends `accept`. An
   * accepted transfer accepted again is returned as it is.
   */
  accept(peerId: string, transferId: string): Promise<Transfer> {
    return this.lock.run(peerId, async () => {
      const transfer = this.incoming(peerId, transferId);
      if (transfer.state === 'accepted' || transfer.state === 'receiving') return transfer;
      if (transfer.state !== 'offered') throw new P2pError('CONFLICT', `the file ${quoteUntrusted(transfer.offer.name)} of transfer ${transferId} is ${transfer.state}; only an offered file can be accepted`);
      if (transfer.expiresAt < this.now()) {
        await this.end(transfer, 'expired', 'expired', { action: 'decline', reason: 'expired' });
        throw new P2pError('CONFLICT', `the offer of ${quoteUntrusted(transfer.offer.name)} (transfer ${transferId}) expired; ask the peer to send it again`);
      }
      await this.checkRoomToAccept(transfer);
      await this.deps.transfers.setState(peerId, transferId, 'accepted');
      await this.sendAccept(this.incoming(peerId, transferId));
      return this.incoming(peerId, transferId);
    });
  }

  /**
   * The user's no: an offer is declined; a transfer under way is cancelled
   * and its part file removed. Either way the peer is sent `decline user`
   * so that it stops sending. A transfer ended already is returned as it is.
   */
  decline(peerId: string, transferId: string): Promise<Transfer> {
    return this.lock.run(peerId, async () => {
      const transfer = this.incoming(peerId, transferId);
      if (isFinal(transfer.state)) return transfer;
      if (transfer.state === 'verifying') throw new P2pError('CONFLICT', `the file ${quoteUntrusted(transfer.offer.name)} of transfer ${transferId} is all here and being checked; it can no longer be declined`);
      await this.end(transfer, transfer.state === 'offered' ? 'declined' : 'cancelled', 'user', { action: 'decline', reason: 'user' });
      return this.incoming(peerId, transferId);
    });
  }

  /** Ends the incoming transfers not ended whose time ran out, telling their peers; the assembly calls it on a timer. */
  async expireDue(): Promise<void> {
    const now = this.now();
    const due = this.deps.transfers.list({ direction: 'incoming' }).filter((transfer) => !isFinal(transfer.state) && transfer.state !== 'verifying' && transfer.expiresAt < now);
    for (const { peerId, transferId } of due) {
      await this.lock.run(peerId, async () => {
        const transfer = this.incoming(peerId, transferId);
        if (!isFinal(transfer.state) && transfer.state !== 'verifying') await this.end(transfer, 'expired', 'expired', { action: 'decline', reason: 'expired' });
      });
    }
  }

  /** The pairing is gone: the peer's open transfers fail with `reason` (revoked, revoked_by_peer); nothing can be sent to it any more. */
  async peerRevoked(peerId: string, reason: string): Promise<void> {
    await this.lock.run(peerId, async () => {
      for (const transfer of this.deps.transfers.list({ peerId, direction: 'incoming' })) if (!isFinal(transfer.state)) await this.end(transfer, 'failed', reason, null);
    });
  }

  /** An accept that cannot reach the peer leaves nothing to wait for: the transfer fails and the caller learns why. */
  private async sendAccept(transfer: Transfer): Promise<void> {
    const refused = await this.sendControl(transfer.peerId, transfer.transferId, { action: 'accept', reason: null });
    if (refused === null) return;
    await this.end(transfer, 'failed', 'send_refused', null);
    throw refused;
  }

  private incoming(peerId: string, transferId: string): Transfer {
    const transfer = this.deps.transfers.get(peerId, transferId);
    if (transfer === undefined || transfer.direction !== 'incoming') throw new P2pError('NOT_FOUND', `no file offered by ${peerId} as transfer ${quoteUntrusted(transferId)} is kept here; see files`);
    return transfer;
  }

  private async checkRoomToAccept(transfer: Transfer): Promise<void> {
    const { name, size } = transfer.offer;
    const { transfers, config } = this.deps;
    const what = `accepting ${quoteUntrusted(name)} (${describeBytes(size)})`;
    if (size > transfers.limits.maxFileBytes) {
      throw new P2pError('FILE_LIMIT', `${what} is above the limit of ${describeBytes(transfers.limits.maxFileBytes)} for one file (P2P_COMM_FILE_MAX_BYTES): raise the limit to take it`);
    }
    const pending = transfers.pendingIncomingBytes() + size;
    if (pending > config.maxPendingBytes) {
      throw new P2pError(
        'FILE_LIMIT',
        `${what} would make ${describeBytes(pending)} of accepted transfers pending, above the limit of ${describeBytes(config.maxPendingBytes)} (P2P_COMM_FILE_MAX_PENDING_BYTES): ` +
          'let the others finish, cancel one with cancel_file, or raise the limit',
      );
    }
    // The bytes still to come of every accepted transfer, this one included: they all land on this disk.
    let remaining = size;
    for (const other of transfers.list({ direction: 'incoming' })) if (RECEIVING_STATES.includes(other.state)) remaining += other.offer.size - bytesDone(other);
    await checkFreeSpace(this.deps.folders.partial, remaining, what, config.freeSpaceMarginBytes);
  }

  private async drainAll(peerId: string): Promise<void> {
    while (!this.closed && (await this.lock.run(peerId, () => this.takeBatch(peerId)))) {
      // Each batch takes the lock apart, so that an accept or a decline waits for one batch, not for the whole backlog.
    }
  }

  /** Takes one batch of the peer's file messages; false when there was none. */
  private async takeBatch(peerId: string): Promise<boolean> {
    const { inbox, config } = this.deps;
    const batch = await inbox.read(peerId, 0, config.inboxBatch, 'files');
    const last = batch.at(-1);
    if (last === undefined) return false;
    if (!this.deps.isPaired(peerId)) {
      // What a peer sent before its pairing ended: nothing can answer it, and none of it is offered to the user.
      for (let i = 0; i < batch.length; i += 1) this.drop(peerId, 'unpaired', false);
      await inbox.ack(peerId, last.cursor, 'files');
      return true;
    }
    const writes = new Map<string, PartWrite>();
    try {
      for (const message of batch) {
        if (message.type === 'file_chunk') {
          await this.takeChunk(message, writes);
          continue;
        }
        // What a control or an offer finds must include the chunks before it.
        await this.flush(peerId, writes);
        await this.takeOfferOrControl(message);
      }
      await this.flush(peerId, writes);
    } finally {
      for (const write of writes.values()) await write.handle.close().catch(() => undefined);
    }
    await inbox.ack(peerId, last.cursor, 'files');
    return true;
  }

  private async takeOfferOrControl(message: StoredMessage): Promise<void> {
    const decoded = decodeContent(message.type, message.content);
    // Checked when it arrived: only a changed limit or file makes this happen.
    if (decoded === null) return this.drop(message.peerId, 'bad_payload', false);
    if (message.type === 'file_offer') return this.takeOffer(message, decoded.value as FileOffer);
    return this.takeControl(message, decoded.value as FileControl);
  }

  private async takeOffer(message: StoredMessage, offer: FileOffer): Promise<void> {
    const { peerId, messageId: transferId } = message;
    const { transfers, config } = this.deps;
    const offerJson = Buffer.from(message.content).toString('utf8');
    const recorded = transfers.get(peerId, transferId);
    if (recorded !== undefined) {
      if (recorded.direction !== 'incoming' || recorded.offerJson !== offerJson) return this.drop(peerId, 'offer_conflict');
      // Taken before a crash that came before the ack; its event may be what the crash lost.
      if (recorded.state === 'offered') this.announceOffer(recorded);
      return;
    }
    const refusal = this.refusalOf(peerId, offer);
    const transfer = {
      direction: 'incoming' as const,
      peerId,
      transferId,
      offerJson,
      correlationId: message.correlationId,
      source: 'remote' as const,
      sourcePath: '',
      expiresAt: Math.round(this.now() + config.ttlSeconds * 1000),
      proof: message.proof,
    };
    if (refusal === null) {
      this.announceOffer(await transfers.addTransfer(transfer));
      return;
    }
    // An honest peer cannot know this node's size and pending-bytes limits: counted, not charged. An offer past the open
    // offers a peer may have is charged: each costs a journal record and a decline, and the earlier declines said stop.
    const pastOpenOffers = transfers.openOffersFrom(peerId) >= transfers.limits.maxOffersPerPeer;
    this.deps.refuse(peerId, `file_offer_${refusal}`, pastOpenOffers);
    await this.sendControl(peerId, transferId, { action: 'decline', reason: refusal });
    await transfers.addTransfer({ ...transfer, endedAs: { state: 'declined', reason: refusal } });
    this.announceFailure(peerId, transferId, refusal);
  }

  /** Why an offer is declined on arrival, or null: the limits of open transfers, so that a peer cannot fill the list or the disk. */
  private refusalOf(peerId: string, offer: FileOffer): 'too_large' | 'limit' | null {
    const { transfers, config } = this.deps;
    if (offer.size > transfers.limits.maxFileBytes || offer.size > config.maxPendingBytes) return 'too_large';
    if (transfers.openOffersFrom(peerId) >= transfers.limits.maxOffersPerPeer) return 'limit';
    if (transfers.pendingIncomingBytes() + offer.size > config.maxPendingBytes) return 'limit';
    return null;
  }

  private async takeControl(message: StoredMessage, control: FileControl): Promise<void> {
    const { peerId, correlationId: transferId } = message;
    const transfer = transferId === null ? undefined : this.deps.transfers.get(peerId, transferId);
    // A transfer ended long ago may be forgotten: an honest peer's late control can name it.
    if (transfer === undefined || transferId === null) return this.drop(peerId, 'unknown_transfer', false);
    if (transfer.direction === 'outgoing') {
      if (this.deps.outgoingControl === undefined) return this.drop(peerId, 'unexpected_control', false);
      return this.deps.outgoingControl(peerId, transferId, control);
    }
    // Only the sender's cancel is about an incoming transfer; an honest sender never sends the receiver's answers.
    if (control.action !== 'cancel') return this.drop(peerId, 'unexpected_control');
    if (isFinal(transfer.state)) return;
    await this.end(transfer, 'cancelled', control.reason ?? 'user', null);
  }

  /**
   * Writes a chunk at its offset, not fsync'd yet (flush does, once per part
   * file and batch). Dropped, counted: a chunk of another length than its
   * index has (`bad_chunk`), or for a transfer not accepted (`unexpected_chunk`).
   */
  private async takeChunk(message: StoredMessage, writes: Map<string, PartWrite>): Promise<void> {
    const { peerId } = message;
    const decoded = decodeContent(message.type, message.content);
    if (decoded === null) return this.drop(peerId, 'bad_payload', false);
    const chunk = decoded.value as FileChunk;
    const transferId = hexOf(chunk.transferId);
    const transfer = this.deps.transfers.get(peerId, transferId);
    // Only a chunk naming no transfer of this peer's is charged: for one this node recorded, an honest sender can have
    // chunks in flight when it ended, or answer an accept this node recorded and sent again after a stop.
    if (transfer === undefined || transfer.direction !== 'incoming') return this.drop(peerId, 'unexpected_chunk');
    if (!RECEIVING_STATES.includes(transfer.state)) return this.drop(peerId, 'unexpected_chunk', false);
    if (chunk.index >= transfer.chunkCount || chunk.data.length !== chunkLengthOf(transfer, chunk.index)) return this.drop(peerId, 'bad_chunk');
    const key = keyOf(peerId, transferId);
    const write = writes.get(key);
    if (transfer.chunksDone.has(chunk.index) || write?.indexes.has(chunk.index) === true) {
      this.counters.chunksDuplicate += 1;
      return;
    }
    try {
      const handle = write?.handle ?? (await open(this.partOf(transfer), constants.O_RDWR | constants.O_CREAT, PRIVATE_FILE_MODE));
      if (write === undefined) writes.set(key, { transferId, handle, indexes: new Set() });
      await writeAt(handle, chunk.data, chunk.index * transfer.offer.chunkSize);
      writes.get(key)?.indexes.add(chunk.index);
    } catch (error) {
      await this.failOnStorageError(transfer, writes, error);
    }
  }

  /** fsync of each part file written, then its chunks recorded; a transfer with all its chunks is then verified. */
  private async flush(peerId: string, writes: Map<string, PartWrite>): Promise<void> {
    for (const [key, write] of [...writes]) {
      writes.delete(key);
      const { transferId } = write;
      const transfer = this.incoming(peerId, transferId);
      try {
        await write.handle.sync();
      } catch (error) {
        await this.failOnStorageError(transfer, writes, error);
        continue;
      } finally {
        await write.handle.close().catch(() => undefined);
      }
      if (transfer.state === 'accepted') await this.deps.transfers.setState(peerId, transferId, 'receiving');
      const added = await this.deps.transfers.addChunksDone(peerId, transferId, [...write.indexes]);
      this.counters.chunksReceived += added.length;
      const updated = this.incoming(peerId, transferId);
      if (isComplete(updated)) await this.complete(peerId, transferId);
      else this.reportProgress(updated, 'receiving');
    }
  }

  /**
   * A disk that is full or fails: the transfer fails (disk_full,
   * storage_error) and the peer is told, rather than its chunks waiting in
   * the inbox for a disk that may not recover.
   */
  private async failOnStorageError(transfer: Transfer, writes: Map<string, PartWrite>, error: unknown): Promise<void> {
    if (!isErrnoException(error)) throw error;
    const key = keyOf(transfer.peerId, transfer.transferId);
    await writes.get(key)?.handle.close().catch(() => undefined);
    writes.delete(key);
    const reason = error.code === 'ENOSPC' || error.code === 'EDQUOT' ? 'disk_full' : 'storage_error';
    this.deps.logger.error(`the file ${quoteUntrusted(transfer.offer.name)} from ${transfer.peerId} could not be written (${error.message}); the transfer failed as ${reason}`);
    await this.end(this.incoming(transfer.peerId, transfer.transferId), 'failed', reason, { action: 'failed', reason });
  }

  /**
   * All chunks are recorded: the part's SHA-256 is checked against the
   * offer, and only an equal file is linked into incoming/, recorded, and
   * confirmed to the peer. A transfer linked and recorded before a crash
   * is finished without a second check or a second copy.
   */
  private async complete(peerId: string, transferId: string): Promise<void> {
    const { transfers, folders } = this.deps;
    let transfer = this.incoming(peerId, transferId);
    if (isFinal(transfer.state)) return;
    if (transfer.state !== 'verifying') {
      await transfers.setState(peerId, transferId, 'verifying');
      transfer = this.incoming(peerId, transferId);
      this.reportProgress(transfer, 'verifying');
    }
    let storedAs = transfer.storedAs;
    if (storedAs === null) {
      const part = this.partOf(transfer);
      const digest = await sha256Of(part, transfer.offer.size);
      if (digest === 'missing') return this.end(transfer, 'failed', 'storage_error', { action: 'failed', reason: 'storage_error' });
      if (digest !== transfer.offer.sha256) return this.end(transfer, 'failed', 'hash_mismatch', { action: 'failed', reason: 'hash_mismatch' });
      storedAs = await linkIntoIncoming(folders, part, transfer.offer.name);
      await transfers.recordStoredAs(peerId, transferId, storedAs);
    }
    await this.sendControl(peerId, transferId, { action: 'received', reason: null });
    await transfers.setState(peerId, transferId, 'received');
    await this.removePart(transfer);
    this.progress.delete(keyOf(peerId, transferId));
    const { name, size, sha256 } = transfer.offer;
    this.deps.events.enqueue({
      type: 'p2p.file.received',
      subject: peerId,
      data: { peer: peerId, transfer_id: transferId, direction: 'incoming', name, size, sha256, path: `incoming/${storedAs}` },
    });
  }

  /** Ends a transfer: the control first (see the top), then the state; its part file goes, and an event says why. */
  private async end(transfer: Transfer, state: TransferState, reason: string, control: FileControl | null): Promise<void> {
    const { peerId, transferId } = transfer;
    if (control !== null) await this.sendControl(peerId, transferId, control);
    await this.deps.transfers.setState(peerId, transferId, state, reason);
    await this.removePart(transfer);
    this.progress.delete(keyOf(peerId, transferId));
    this.announceFailure(peerId, transferId, reason);
  }

  private announceOffer(transfer: Transfer): void {
    const { peerId, transferId, offer } = transfer;
    this.deps.events.enqueue({ type: 'p2p.file.offered', subject: peerId, data: { peer: peerId, transfer_id: transferId, name: offer.name, size: offer.size, sha256: offer.sha256 } });
  }

  private announceFailure(peerId: string, transferId: string, reason: string): void {
    this.deps.events.enqueue({ type: 'p2p.file.failed', subject: peerId, data: { peer: peerId, transfer_id: transferId, direction: 'incoming', reason } });
  }

  /** At most one event per progressIntervalMs per transfer, and one whenever another tenth of the file is done. */
  private reportProgress(transfer: Transfer, phase: 'receiving' | 'verifying'): void {
    const key = keyOf(transfer.peerId, transfer.transferId);
    const done = bytesDone(transfer);
    const size = transfer.offer.size;
    const tenth = Math.floor((done * 10) / size);
    const now = this.now();
    const last = this.progress.get(key);
    if (phase === 'receiving' && last !== undefined && now - last.at < this.deps.config.progressIntervalMs && tenth <= last.tenth) return;
    this.progress.set(key, { at: now, tenth });
    this.deps.events.enqueue({
      type: 'p2p.file.progress',
      subject: transfer.peerId,
      data: { peer: transfer.peerId, transfer_id: transfer.transferId, direction: 'incoming', name: transfer.offer.name, phase, bytes_done: done, size },
    });
  }

  /** Sends a control; null once it is in the outbox, else the messenger's refusal, logged (see the top). */
  private async sendControl(peerId: string, transferId: string, control: FileControl): Promise<Error | null> {
    try {
      await this.deps.messenger.send({ peer: peerId, type: 'file_control', content: control, correlationId: transferId, ttlSeconds: null });
      return null;
    } catch (error) {
      this.deps.logger.warn(`could not send ${control.action} about transfer ${transferId} to ${peerId}: ${(error as Error).message}`);
      return error as Error;
    }
  }

  /** Counted as `file_<reason>`; charged, like any refused input, when an honest peer never sends it. */
  private drop(peerId: string, reason: string, charged = true): void {
    this.deps.refuse(peerId, `file_${reason}`, charged);
    this.deps.logger.debug(`a file message from ${peerId} was dropped: file_${reason}`);
  }

  /** Best effort: a part file left behind only takes space, where a failure here would stop the peer's file messages. */
  private async removePart(transfer: Transfer): Promise<void> {
    try {
      await rm(this.partOf(transfer), { force: true });
    } catch (error) {
      this.deps.logger.warn(`the part file of transfer ${transfer.transferId} from ${transfer.peerId} could not be removed: ${(error as Error).message}`);
    }
  }

  private partOf(transfer: Transfer): string {
    return partFilePath(this.deps.folders, transfer.peerId, transfer.transferId);
  }

  private track(work: Promise<unknown>): void {
    const run = work
      .then(() => undefined)
      .catch((error: unknown) => this.deps.logger.error(`an interrupted file transfer could not be finished: ${(error as Error).message}; it is tried again at the next start`));
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }
}

function keyOf(peerId: string, transferId: string): string {
  return `${peerId} ${transferId}`;
}

function isComplete(transfer: Transfer): boolean {
  return transfer.state === 'verifying' || (RECEIVING_STATES.includes(transfer.state) && transfer.chunksDone.size === transfer.chunkCount);
}

/** Every chunk is chunk_size bytes but the last, which holds the rest. */
function chunkLengthOf(transfer: Transfer, index: number): number {
  const { size, chunkSize } = transfer.offer;
  return index < transfer.chunkCount - 1 ? chunkSize : size - index * chunkSize;
}

async function writeAt(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}

/** The part's SHA-256 in hex; a part of another size cannot match, and is not read. 'missing' when there is no part file. */
async function sha256Of(path: string, size: number): Promise<string | 'missing'> {
  let stats;
  try {
    stats = await stat(path);
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') return 'missing';
    throw error;
  }
  if (stats.size !== size) return '';
  const hash = createHash('sha256');
  for await (const block of createReadStream(path)) hash.update(block as Buffer);
  return hash.digest('hex');
}
