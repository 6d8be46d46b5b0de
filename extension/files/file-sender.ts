import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open, readdir, rm, stat } from 'node:fs/promises';
import { P2pError } from '../common/errors';
import { quoteUntrusted } from '../common/quote-text';
import type { Logger } from '../log';
import type { SettledState } from '../messaging/messenger';
import type { OutgoingMessage } from '../store/outbox';
import { MESSAGE_ID_BYTES } from '../wire/message-leaf';
import { chunkCountOf, type FileChunk, type FileControl, type FileOffer, encodeFileOffer } from '../wire/file-payload';
import { type FileFolders, openOutgoingFile, PRIVATE_FILE_MODE, uploadFilePath } from './file-folders';
import { isFinal, type Transfer, type TransferState, type TransferStore } from './transfer-store';
import { PerPeerLock } from './per-peer-lock';

/**
 * The sending side of file transfers (design §3): hashes a file from
 * files/outgoing or an upload, records the offer with the hash of every
 * chunk, offers it, and once the peer accepts hands the chunks to the
 * messenger as durable messages, at most `windowChunks` pending per peer
 * and one transfer at a time per peer, the next chunk each time one
 * settles. The outbox's receipts are what counts: a chunk is done when
 * delivered, and a restart asks the outbox about every chunk handed over
 * and not yet recorded done, so only what no receipt covered goes again.
 *
 * The source file is not copied: each chunk read is hashed and compared
 * with the hash recorded at the offer, so an edited source cancels the
 * transfer (`source_changed`) instead of delivering a file the peer would
 * only find wrong at the end.
 */
export interface FileSenderConfig {
  /** Bytes of each chunk but the last (P2P_COMM_FILE_CHUNK_BYTES). */
  chunkBytes: number;
  /** Chunks pending in the outbox per peer (P2P_COMM_FILE_WINDOW_CHUNKS). */
  windowChunks: number;
  /** Largest file sent or uploaded (P2P_COMM_FILE_MAX_BYTES). */
  maxFileBytes: number;
  /** How long an offer and its transfer live unless the request says less (P2P_COMM_FILE_TTL_SECONDS). */
  ttlSeconds: number;
  /** Least time between two progress events of a transfer, besides one at each tenth (P2P_COMM_FILE_PROGRESS_MS). */
  progressIntervalMs: number;
  /** How long an upload not finished is kept. */
  uploadTtlMs: number;
}

export const DEFAULT_FILE_SENDER_CONFIG: FileSenderConfig = {
  chunkBytes: 262_144,
  windowChunks: 16,
  maxFileBytes: 1024 * 1024 * 1024,
  ttlSeconds: 7 * 24 * 60 * 60,
  progressIntervalMs: 1_000,
  uploadTtlMs: 60 * 60 * 1000,
};

/** What the sender needs of the messenger; the Messenger is one, a test gives a fake. */
export interface FileMessenger {
  send(request: {
    peer: string;
    type: 'file_offer' | 'file_control' | 'file_chunk';
    content: FileOffer | FileControl | FileChunk;
    correlationId: string | null;
    ttlSeconds: number | null;
    messageId?: string;
  }): Promise<{ messageId: string }>;
  onSettled(listener: (peerId: string, messageId: string, state: SettledState, reason: string | null) => void): void;
  failPending(peerId: string, messageIds: readonly string[], reason: string): Promise<string[]>;
}

export interface FileSenderDeps {
  transfers: TransferStore;
  folders: FileFolders;
  messenger: FileMessenger;
  /** The outbox's record of a message: what a restart asks about chunks handed over before it. */
  outboxMessage: (messageId: string) => Pick<OutgoingMessage, 'state' | 'reason'> | undefined;
  events: { enqueue(event: { type: string; subject?: string; data: Record<string, unknown> }): void };
  /** Why the pairing with the peer is over (revoked, revoked_by_peer), or null while it lasts: names a refused send. */
  pairingEnded: (peerId: string) => string | null;
  logger: Logger;
  config: FileSenderConfig;
  now?: () => number;
}

/** What the user gives about a file to send; the bytes are in files/outgoing or an upload. */
export interface SendFileRequest {
  peer: string;
  /** Shown to the peer; by default the file's own name. */
  name?: string | undefined;
  mediaType?: string | undefined;
  description?: string | undefined;
  /** The shared context (a message id, a task id): the offer's correlation id. */
  correlationId?: string | undefined;
  ttlSeconds?: number | undefined;
}

/** One part of an upload: `offset` is what was received so far. */
export interface UploadPart {
  uploadId?: string | undefined;
  offset: number;
  data: Uint8Array;
  done: boolean;
}

export type SendFileResult =
  | { uploadId: string; receivedBytes: number }
  | { transferId: string; state: 'hashing'; size: number; name: string };

/** Counters since start, for `status`. */
export interface FileSenderCounters {
  chunksSent: number;
  /** Chunks handed to the messenger again after a restart found their first copy lost. */
  chunksResent: number;
}

/** The transfer a peer's chunks are taken from now. */
interface Sending {
  transferId: string;
  handle: FileHandle;
  /** Next index to consider. */
  next: number;
  /** Chunk messages in the outbox and not settled: message id → index. */
  pending: Map<string, number>;
}

const UPLOAD_ID_BYTES = MESSAGE_ID_BYTES;

/** Settle reasons that mean the pairing is gone: the transfer fails, nothing is sent. */
const REVOCATION_REASONS = ['revoked', 'revoked_by_peer'];

/** Why this node fails its own pending chunks when it ends a transfer: their settle calls are then expected, not news. */
const WITHDRAWN = 'file_withdrawn';

export class FileSender {
  /** Per peer, accepted transfers waiting their turn, oldest accept first. */
  private readonly queues = new Map<string, string[]>();
  private readonly sending = new Map<string, Sending>();
  /** Chunk message id → its peer and transfer, for settle calls. */
  private readonly chunks = new Map<string, { peerId: string; transferId: string; index: number }>();
  /**
   * Per peer, settle calls for messages not known as chunks, kept while a
   * chunk is being handed over to that peer: a receipt can come back before
   * the hand-over (outbox write, SENT record) returns its id. Per peer, so
   * that one peer's hand-over ending never drops another's.
   */
  private readonly early = new Map<string, Map<string, { state: SettledState; reason: string | null }>>();
  private readonly handingOver = new Set<string>();
  /** A settle, a control and a cancel of one peer's transfers never interleave. */
  private readonly lock = new PerPeerLock();
  /** Hashing passes under way (the transfer is recorded once its hash is known). */
  private readonly hashing = new Map<string, { peerId: string; name: string; size: number; bytesDone: number }>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly progress = new Map<string, { at: number; tenth: number }>();
  private readonly counters: FileSenderCounters = { chunksSent: 0, chunksResent: 0 };
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly deps: FileSenderDeps) {
    this.now = deps.now ?? Date.now;
    deps.messenger.onSettled((peerId, messageId, state, reason) => this.settled(peerId, messageId, state, reason));
  }

  /**
   * Picks up what a stop interrupted: an offer recorded and not sent goes
   * out, and every accepted transfer's chunks handed over before are looked
   * up in the outbox (delivered: done; pending: left to the messenger,
   * which offers them again; gone: sent again).
   */
  start(): void {
    const open = this.deps.transfers
      .list({ direction: 'outgoing' })
      .filter((transfer) => !isFinal(transfer.state))
      .sort((a, b) => a.updatedAt - b.updatedAt);
    for (const transfer of open) this.track(this.lock.run(transfer.peerId, () => this.resume(transfer)));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.whenIdle();
    for (const [peerId, sending] of [...this.sending]) {
      this.sending.delete(peerId);
      await sending.handle.close().catch(() => undefined);
    }
  }

  /** Resolves once the work started so far is done (hashing, chunk hand-overs); for tests and close. */
  async whenIdle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  stats(): FileSenderCounters {
    return { ...this.counters };
  }

  /** Transfers whose hash is being computed: not in files.log yet. */
  hashingTransfers(): { peerId: string; transferId: string; name: string; size: number; bytesDone: number }[] {
    return [...this.hashing].map(([key, entry]) => ({ ...entry, transferId: key.slice(key.indexOf('/') + 1) }));
  }

  /** Sends a file placed in files/outgoing: returns at once, the hash is computed in the background. */
  async sendFromFolder(request: SendFileRequest & { path: string }): Promise<SendFileResult> {
    const source = await openOutgoingFile(this.deps.folders, request.path);
    try {
      this.checkSize(source.identity.size, request.path);
    } catch (error) {
      await source.handle.close();
      throw error;
    }
    const name = request.name ?? request.path.slice(request.path.lastIndexOf('/') + 1);
    return this.startHashing(request, name, source.handle, 'folder', source.relativePath, source.identity.size);
  }

  /**
   * Takes one part of an upload, in order: bytes written under
   * files/.uploads, and with the last part (`done`) the file is hashed and
   * offered like a file of the folder.
   */
  async upload(request: SendFileRequest & { name: string }, part: UploadPart): Promise<SendFileResult> {
    const uploadId = part.uploadId ?? randomBytes(UPLOAD_ID_BYTES).toString('hex');
    const path = uploadFilePath(this.deps.folders, uploadId);
    const received = part.uploadId === undefined ? 0 : await stat(path).then(
      (stats) => stats.size,
      () => {
        throw new P2pError('NOT_FOUND', `no upload ${uploadId} is under way (unfinished uploads are removed after ${this.deps.config.uploadTtlMs / 60_000} minutes); start again without an upload id`);
      },
    );
    if (part.offset !== received) {
      throw new P2pError('INVALID_INPUT', `upload ${uploadId} has ${received} bytes; send the part starting at offset ${received}, not ${part.offset}`);
    }
    this.checkSize(received + part.data.length, `upload ${uploadId}`);
    const flags = part.uploadId === undefined ? constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL : constants.O_WRONLY;
    const handle = await open(path, flags, PRIVATE_FILE_MODE);
    try {
      if (part.data.length > 0) await handle.write(part.data, 0, part.data.length, received);
      if (!part.done) return { uploadId, receivedBytes: received + part.data.length };
      await handle.sync();
    } finally {
      await handle.close();
    }
    const size = received + part.data.length;
    if (size === 0) {
      await rm(path, { force: true });
      throw new P2pError('INVALID_INPUT', `upload ${uploadId} is empty; a file to send has at least one byte`);
    }
    return this.startHashing(request, request.name, await open(path, constants.O_RDONLY), 'upload', uploadId, size);
  }

  /** The peer's answer to an offer of this node (the receiver routes it here). */
  control(peerId: string, transferId: string, control: FileControl): Promise<void> {
    return this.lock.run(peerId, () => this.takeControl(peerId, transferId, control));
  }

  /** The user withdraws a transfer: its pending chunks fail, the peer is told `cancel user`. */
  cancel(peerId: string, transferId: string): Promise<Transfer> {
    return this.lock.run(peerId, async () => {
      const transfer = this.outgoing(peerId, transferId);
      if (!isFinal(transfer.state)) await this.end(transfer, 'cancelled', 'user', { action: 'cancel', reason: 'user' });
      return this.outgoing(peerId, transferId);
    });
  }

  /** Ends transfers past their lifetime (telling the peer) and removes uploads nobody finished in time. */
  async expireDue(): Promise<void> {
    const now = this.now();
    for (const transfer of this.deps.transfers.list({ direction: 'outgoing' })) {
      if (isFinal(transfer.state) || transfer.expiresAt > now || transfer.state === 'hashing') continue;
      await this.lock.run(transfer.peerId, async () => {
        const current = this.outgoing(transfer.peerId, transfer.transferId);
        if (!isFinal(current.state)) await this.end(current, 'expired', 'expired', { action: 'cancel', reason: 'expired' });
      });
    }
    await this.removeStaleUploads(now);
  }

  /** The pairing is gone: open transfers to the peer fail, nothing is sent. */
  peerRevoked(peerId: string, reason: string): Promise<void> {
    return this.lock.run(peerId, async () => {
      for (const transfer of this.deps.transfers.list({ peerId, direction: 'outgoing' })) {
        if (!isFinal(transfer.state)) await this.end(transfer, 'failed', reason, null);
      }
    });
  }

  private checkSize(size: number, what: string): void {
    if (size > this.deps.config.maxFileBytes) {
      throw new P2pError('FILE_LIMIT', `${what} has ${size} bytes, above the limit of ${this.deps.config.maxFileBytes} (P2P_COMM_FILE_MAX_BYTES); send a smaller file or raise the limit`);
    }
  }

  private startHashing(request: SendFileRequest, name: string, handle: FileHandle, source: 'folder' | 'upload', sourcePath: string, size: number): SendFileResult {
    if (size === 0) {
      void handle.close();
      throw new P2pError('INVALID_INPUT', `${quoteUntrusted(sourcePath)} is empty; a file to send has at least one byte`);
    }
    const offer: FileOffer = {
      name,
      size,
      sha256: '0'.repeat(64),
      chunkSize: this.deps.config.chunkBytes,
      mediaType: request.mediaType ?? null,
      description: request.description ?? null,
    };
    // The encoder's checks (name rules, sizes) refuse a bad request now, not after hashing.
    try {
      encodeFileOffer(offer);
    } catch (error) {
      void handle.close();
      throw error;
    }
    if (this.deps.transfers.openOutgoingCount() + this.hashing.size >= this.deps.transfers.limits.maxOutgoing) {
      void handle.close();
      throw new P2pError('FILE_LIMIT', `${this.deps.transfers.limits.maxOutgoing} outgoing transfers are open (P2P_COMM_FILE_MAX_OUTGOING); wait for one to end or cancel one`);
    }
    const transferId = randomBytes(MESSAGE_ID_BYTES).toString('hex');
    const key = keyOf(request.peer, transferId);
    this.hashing.set(key, { peerId: request.peer, name, size, bytesDone: 0 });
    const ttlSeconds = Math.min(request.ttlSeconds ?? this.deps.config.ttlSeconds, this.deps.config.ttlSeconds);
    this.track(
      this.hashAndOffer(request, offer, handle, source, sourcePath, transferId, ttlSeconds).finally(() => {
        this.hashing.delete(key);
      }),
    );
    return { transferId, state: 'hashing', size, name };
  }

  /** Whole-file and per-chunk SHA-256, then OFFERED and HASHES recorded, then the offer sent under the transfer id. */
  private async hashAndOffer(
    request: SendFileRequest,
    draft: FileOffer,
    handle: FileHandle,
    source: 'folder' | 'upload',
    sourcePath: string,
    transferId: string,
    ttlSeconds: number,
  ): Promise<void> {
    const { peer } = request;
    let hashes: Uint8Array;
    let sha256: string;
    try {
      const before = await handle.stat();
      ({ hashes, sha256 } = await this.hashFile(peer, transferId, handle, draft));
      const after = await handle.stat();
      if (after.size !== draft.size || after.mtimeMs !== before.mtimeMs || after.ino !== before.ino) {
        this.announceFailure(peer, transferId, 'source_changed');
        return;
      }
    } catch (error) {
      this.deps.logger.error(`the file ${quoteUntrusted(sourcePath)} could not be read to be offered to ${peer}: ${(error as Error).message}`);
      this.announceFailure(peer, transferId, 'storage_error');
      return;
    } finally {
      await handle.close().catch(() => undefined);
    }
    const offer = { ...draft, sha256 };
    const offerJson = Buffer.from(encodeFileOffer(offer)).toString('utf8');
    await this.lock.run(peer, async () => {
      await this.deps.transfers.addTransfer({
        direction: 'outgoing',
        peerId: peer,
        transferId,
        offerJson,
        correlationId: request.correlationId ?? null,
        source,
        sourcePath,
        expiresAt: this.now() + ttlSeconds * 1000,
        proof: null,
      });
      await this.deps.transfers.setChunkHashes(peer, transferId, hashes);
      await this.sendOffer(this.outgoing(peer, transferId)).catch((error: unknown) => this.sendRefused(this.outgoing(peer, transferId), error));
    });
  }

  /** The messenger would not take a message for the peer (no longer paired, outbox full): the transfer fails, saying why in the log. */
  private async sendRefused(transfer: Transfer, error: unknown): Promise<void> {
    // A revocation refuses sends before it fails the pending chunks: the transfer fails for the same reason either way.
    const ended = this.deps.pairingEnded(transfer.peerId);
    if (ended === null) this.deps.logger.warn(`the file ${quoteUntrusted(transfer.offer.name)} could not be sent to ${transfer.peerId}: ${(error as Error).message}`);
    await this.end(transfer, 'failed', ended ?? 'send_refused', null);
  }

  private async hashFile(peerId: string, transferId: string, handle: FileHandle, offer: FileOffer): Promise<{ hashes: Uint8Array; sha256: string }> {
    const count = chunkCountOf(offer.size, offer.chunkSize);
    const hashes = new Uint8Array(count * 32);
    const whole = createHash('sha256');
    const buffer = Buffer.allocUnsafe(offer.chunkSize);
    for (let index = 0; index < count; index += 1) {
      if (this.closed) throw new Error('the node is stopping');
      const data = await readChunk(handle, buffer, index, offer);
      whole.update(data);
      hashes.set(createHash('sha256').update(data).digest(), index * 32);
      const entry = this.hashing.get(keyOf(peerId, transferId));
      if (entry !== undefined) entry.bytesDone += data.length;
      this.reportProgress(peerId, transferId, offer.name, 'hashing', Math.min(offer.size, (index + 1) * offer.chunkSize), offer.size);
    }
    return { hashes, sha256: whole.digest('hex') };
  }

  /** The offer goes out under the transfer id; one already in the outbox (a crash after its send) is not sent twice. */
  private async sendOffer(transfer: Transfer): Promise<void> {
    if (this.deps.outboxMessage(transfer.transferId) === undefined) {
      await this.deps.messenger.send({
        peer: transfer.peerId,
        type: 'file_offer',
        content: transfer.offer,
        correlationId: transfer.correlationId,
        ttlSeconds: this.remainingSeconds(transfer),
        messageId: transfer.transferId,
      });
    }
    await this.deps.transfers.setState(transfer.peerId, transfer.transferId, 'offered');
  }

  private async resume(transfer: Transfer): Promise<void> {
    const { peerId, transferId } = transfer;
    if (transfer.state === 'hashing') {
      // OFFERED is written after the hash, HASHES right after it: only a crash between the two leaves none.
      if (transfer.chunkHashes === null) return this.end(transfer, 'failed', 'storage_error', null);
      return this.sendOffer(transfer);
    }
    if (transfer.state !== 'accepted' && transfer.state !== 'sending') return;
    const delivered: number[] = [];
    for (const [index, messageId] of transfer.chunksSent) {
      const message = this.deps.outboxMessage(messageId);
      if (message === undefined) continue;
      if (message.state === 'delivered') delivered.push(index);
      else if (message.state === 'failed' || message.state === 'expired') {
        return this.end(transfer, message.state === 'expired' ? 'expired' : 'failed', message.reason ?? message.state, null);
      } else this.chunks.set(messageId, { peerId, transferId, index });
    }
    if (delivered.length > 0) await this.deps.transfers.addChunksDone(peerId, transferId, delivered);
    this.enqueue(peerId, transferId);
    await this.fill(peerId);
  }

  private async takeControl(peerId: string, transferId: string, control: FileControl): Promise<void> {
    const transfer = this.deps.transfers.get(peerId, transferId);
    if (transfer === undefined || transfer.direction !== 'outgoing') return;
    if (isFinal(transfer.state)) {
      // The receiver stopped between sending its decline and recording it, then accepted: it would wait for chunks until its TTL.
      if (control.action === 'accept' && transfer.state !== 'received') await this.sendControl(transfer, { action: 'cancel', reason: 'ended' });
      return;
    }
    switch (control.action) {
      case 'accept':
        // A repeat (the receiver sends its accept again after a stop) means "send what is missing": chunks neither
        // delivered nor pending go out, in turn; once all are delivered (`sent`) there is nothing more to send.
        if (transfer.state === 'sent') return;
        if (transfer.state === 'offered') await this.deps.transfers.setState(peerId, transferId, 'accepted');
        this.enqueue(peerId, transferId);
        return this.fill(peerId);
      case 'decline':
        return this.end(transfer, 'declined', control.reason ?? 'user', null);
      case 'failed':
        return this.end(transfer, 'failed', control.reason ?? 'failed', null);
      case 'received':
        await this.stopSending(transfer, null);
        await this.deps.transfers.setState(peerId, transferId, 'received');
        await this.removeUpload(transfer);
        this.progress.delete(keyOf(peerId, transferId));
        this.deps.events.enqueue({
          type: 'p2p.file.received',
          subject: peerId,
          data: { peer: peerId, transfer_id: transferId, direction: 'outgoing', name: transfer.offer.name, size: transfer.offer.size, sha256: transfer.offer.sha256 },
        });
        return this.fill(peerId);
      case 'cancel':
        // Only a sender cancels; the receiver ends its side with decline.
        this.deps.logger.warn(`${peerId} sent cancel about transfer ${transferId}, which this node offered; ignored`);
        return;
    }
  }

  private enqueue(peerId: string, transferId: string): void {
    const queue = this.queues.get(peerId) ?? [];
    if (!queue.includes(transferId) && this.sending.get(peerId)?.transferId !== transferId) queue.push(transferId);
    this.queues.set(peerId, queue);
  }

  /**
   * Tops the peer's window up: chunks of the transfer being sent, each
   * read, checked against its recorded hash, handed to the messenger and
   * recorded SENT before it counts as pending. Runs under the peer's lock.
   */
  private async fill(peerId: string): Promise<void> {
    if (this.closed) return;
    const sending = await this.current(peerId);
    if (sending === null) return;
    const transfer = this.outgoing(peerId, sending.transferId);
    if (transfer.state === 'accepted') await this.deps.transfers.setState(peerId, transfer.transferId, 'sending');
    const buffer = Buffer.allocUnsafe(transfer.offer.chunkSize);
    while (sending.pending.size < this.deps.config.windowChunks && sending.next < transfer.chunkCount) {
      const index = sending.next;
      sending.next += 1;
      if (transfer.chunksDone.has(index) || [...sending.pending.values()].includes(index)) continue;
      const data = await readChunk(sending.handle, buffer, index, transfer.offer).catch(() => null);
      const expected = transfer.chunkHashes?.subarray(index * 32, index * 32 + 32);
      if (data === null || expected === undefined || !createHash('sha256').update(data).digest().equals(expected)) {
        return this.end(transfer, 'cancelled', 'source_changed', { action: 'cancel', reason: 'source_changed' });
      }
      const resent = transfer.chunksSent.has(index);
      this.handingOver.add(peerId);
      let messageId: string;
      try {
        ({ messageId } = await this.deps.messenger.send({
          peer: peerId,
          type: 'file_chunk',
          content: { transferId: Buffer.from(transfer.transferId, 'hex'), index, data },
          correlationId: null,
          ttlSeconds: this.remainingSeconds(transfer),
        }));
      } catch (error) {
        this.handingOver.delete(peerId);
        this.early.delete(peerId);
        return this.sendRefused(transfer, error);
      }
      try {
        await this.deps.transfers.recordSent(peerId, transfer.transferId, index, messageId);
      } finally {
        this.handingOver.delete(peerId);
      }
      this.counters.chunksSent += 1;
      if (resent) this.counters.chunksResent += 1;
      sending.pending.set(messageId, index);
      this.chunks.set(messageId, { peerId, transferId: transfer.transferId, index });
      const early = this.early.get(peerId)?.get(messageId);
      this.early.delete(peerId);
      // Its settle call came during the hand-over: taken under this lock, once this fill ends.
      if (early !== undefined) this.settled(peerId, messageId, early.state, early.reason);
    }
    if (sending.pending.size === 0 && this.outgoing(peerId, transfer.transferId).chunksDone.size === transfer.chunkCount) {
      await this.deps.transfers.setState(peerId, transfer.transferId, 'sent');
      await this.stopSending(transfer, null);
      return this.fill(peerId);
    }
  }

  /** The transfer whose chunks go now: the current one, or the next accepted one, with its source opened. */
  private async current(peerId: string): Promise<Sending | null> {
    const existing = this.sending.get(peerId);
    if (existing !== undefined) return existing;
    const queue = this.queues.get(peerId) ?? [];
    while (queue.length > 0) {
      const transferId = queue.shift() as string;
      const transfer = this.outgoing(peerId, transferId);
      if (transfer.state !== 'accepted' && transfer.state !== 'sending') continue;
      let handle: FileHandle;
      try {
        handle = await this.openSource(transfer);
      } catch (error) {
        this.deps.logger.warn(`the source of the file ${quoteUntrusted(transfer.offer.name)} to ${peerId} cannot be opened again (${(error as Error).message})`);
        await this.end(transfer, 'cancelled', 'source_changed', { action: 'cancel', reason: 'source_changed' });
        continue;
      }
      const pending = new Map<string, number>();
      for (const [messageId, chunk] of this.chunks) {
        if (chunk.peerId === peerId && chunk.transferId === transferId) pending.set(messageId, chunk.index);
      }
      const sending: Sending = { transferId, handle, next: 0, pending };
      this.sending.set(peerId, sending);
      return sending;
    }
    return null;
  }

  private async openSource(transfer: Transfer): Promise<FileHandle> {
    const handle =
      transfer.source === 'folder'
        ? (await openOutgoingFile(this.deps.folders, transfer.sourcePath)).handle
        : await open(uploadFilePath(this.deps.folders, transfer.sourcePath), constants.O_RDONLY);
    const stats = await handle.stat();
    if (stats.size !== transfer.offer.size) {
      await handle.close();
      throw new Error(`it has ${stats.size} bytes, the offer said ${transfer.offer.size}`);
    }
    return handle;
  }

  /** A messenger settle call: a chunk delivered frees a place in the window; a chunk or offer lost ends its transfer. */
  private settled(peerId: string, messageId: string, state: SettledState, reason: string | null): void {
    const chunk = this.chunks.get(messageId);
    if (chunk !== undefined) {
      this.chunks.delete(messageId);
      this.track(this.lock.run(peerId, () => this.chunkSettled(chunk.transferId, peerId, messageId, chunk.index, state, reason)));
      return;
    }
    if (this.handingOver.has(peerId)) {
      const early = this.early.get(peerId) ?? new Map<string, { state: SettledState; reason: string | null }>();
      early.set(messageId, { state, reason });
      this.early.set(peerId, early);
    }
    // Most settle calls are ordinary messages delivered: only a lost offer ends a transfer here.
    if (state === 'delivered') return;
    const offered = this.deps.transfers.get(peerId, messageId);
    if (offered === undefined || offered.direction !== 'outgoing') return;
    this.track(
      this.lock.run(peerId, async () => {
        const transfer = this.outgoing(peerId, messageId);
        if (transfer.state !== 'offered') return;
        // A node without files-v1 refuses the leaf type as malformed, finally.
        const why = state === 'expired' ? 'expired' : reason === 'malformed' ? 'peer_unsupported' : (reason ?? 'failed');
        await this.end(transfer, state === 'expired' ? 'expired' : 'failed', why, null);
      }),
    );
  }

  private async chunkSettled(transferId: string, peerId: string, messageId: string, index: number, state: SettledState, reason: string | null): Promise<void> {
    const sending = this.sending.get(peerId);
    if (sending?.transferId === transferId) sending.pending.delete(messageId);
    const transfer = this.deps.transfers.get(peerId, transferId);
    if (transfer === undefined || isFinal(transfer.state)) return;
    if (state === 'delivered') {
      await this.deps.transfers.addChunksDone(peerId, transferId, [index], { lazy: true });
      this.reportProgress(peerId, transferId, transfer.offer.name, 'sending', this.outgoing(peerId, transferId).chunksDone.size * transfer.offer.chunkSize, transfer.offer.size);
      return this.fill(peerId);
    }
    if (reason === WITHDRAWN) return;
    if (state === 'expired') return this.end(transfer, 'expired', 'expired', { action: 'cancel', reason: 'expired' });
    const revoked = reason !== null && REVOCATION_REASONS.includes(reason);
    return this.end(transfer, 'failed', reason ?? 'failed', revoked ? null : { action: 'cancel', reason: 'user' });
  }

  /**
   * Ends a transfer: its pending chunks fail, the peer is told (when there
   * is something to tell and a way to), the state is recorded, the upload
   * removed. The control goes before the state, so a crash only repeats it.
   */
  private async end(transfer: Transfer, state: TransferState, reason: string, control: FileControl | null): Promise<void> {
    const { peerId, transferId } = transfer;
    await this.stopSending(transfer, WITHDRAWN);
    if (control !== null && transfer.state !== 'hashing') await this.sendControl(transfer, control);
    await this.deps.transfers.setState(peerId, transferId, state, reason);
    await this.removeUpload(transfer);
    this.progress.delete(keyOf(peerId, transferId));
    this.announceFailure(peerId, transferId, reason);
    // The next accepted transfer's turn, unless the pairing is gone: then it ends too, by the same call.
    if (!REVOCATION_REASONS.includes(reason) && this.sending.get(peerId) === undefined) await this.fill(peerId);
  }

  /** Closes the transfer's source if it is the one being sent, and fails its chunks still pending (when `reason` is given). */
  private async stopSending(transfer: Transfer, reason: string | null): Promise<void> {
    const { peerId, transferId } = transfer;
    const sending = this.sending.get(peerId);
    const ids = [...this.chunks].filter(([, chunk]) => chunk.peerId === peerId && chunk.transferId === transferId).map(([id]) => id);
    for (const id of ids) this.chunks.delete(id);
    this.queues.set(peerId, (this.queues.get(peerId) ?? []).filter((id) => id !== transferId));
    if (reason !== null && ids.length > 0) await this.deps.messenger.failPending(peerId, ids, reason);
    if (sending?.transferId !== transferId) return;
    this.sending.delete(peerId);
    await sending.handle.close().catch(() => undefined);
  }

  private async sendControl(transfer: Transfer, control: FileControl): Promise<void> {
    try {
      await this.deps.messenger.send({ peer: transfer.peerId, type: 'file_control', content: control, correlationId: transfer.transferId, ttlSeconds: null });
    } catch (error) {
      // A revoked or removed peer cannot be told; the transfer still ends here.
      this.deps.logger.warn(`could not tell ${transfer.peerId} that transfer ${transfer.transferId} ended (${(error as Error).message})`);
    }
  }

  private async removeUpload(transfer: Transfer): Promise<void> {
    if (transfer.source !== 'upload') return;
    await rm(uploadFilePath(this.deps.folders, transfer.sourcePath), { force: true }).catch((error: unknown) => {
      this.deps.logger.warn(`could not remove the upload ${transfer.sourcePath}: ${(error as Error).message}`);
    });
  }

  /** Uploads older than uploadTtlMs that no open transfer reads: given up by whoever started them. */
  private async removeStaleUploads(now: number): Promise<void> {
    const inUse = new Set(
      this.deps.transfers
        .list({ direction: 'outgoing' })
        .filter((transfer) => transfer.source === 'upload' && !isFinal(transfer.state))
        .map((transfer) => transfer.sourcePath),
    );
    for (const name of await readdir(this.deps.folders.uploads).catch(() => [] as string[])) {
      if (inUse.has(name)) continue;
      const path = uploadFilePath(this.deps.folders, name);
      const stats = await stat(path).catch(() => null);
      if (stats !== null && now - stats.mtimeMs > this.deps.config.uploadTtlMs) await rm(path, { force: true });
    }
  }

  private remainingSeconds(transfer: Transfer): number {
    return Math.max(1, Math.ceil((transfer.expiresAt - this.now()) / 1000));
  }

  private announceFailure(peerId: string, transferId: string, reason: string): void {
    this.deps.events.enqueue({ type: 'p2p.file.failed', subject: peerId, data: { peer: peerId, transfer_id: transferId, direction: 'outgoing', reason } });
  }

  /** At most one event per progressIntervalMs per transfer, and one whenever another tenth is done. */
  private reportProgress(peerId: string, transferId: string, name: string, phase: 'hashing' | 'sending', bytesDone: number, size: number): void {
    const key = keyOf(peerId, transferId);
    const done = Math.min(bytesDone, size);
    const tenth = Math.floor((done * 10) / size);
    const now = this.now();
    const last = this.progress.get(key);
    if (last !== undefined && now - last.at < this.deps.config.progressIntervalMs && tenth <= last.tenth) return;
    this.progress.set(key, { at: now, tenth });
    this.deps.events.enqueue({
      type: 'p2p.file.progress',
      subject: peerId,
      data: { peer: peerId, transfer_id: transferId, direction: 'outgoing', name, phase, bytes_done: done, size },
    });
  }

  private outgoing(peerId: string, transferId: string): Transfer {
    const transfer = this.deps.transfers.get(peerId, transferId);
    if (transfer === undefined || transfer.direction !== 'outgoing') {
      throw new P2pError('NOT_FOUND', `no file transfer ${transferId} to ${peerId} was offered from this node (or it ended long enough ago to be forgotten)`);
    }
    return transfer;
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((error: unknown) => {
      this.deps.logger.error(`file sending failed: ${(error as Error).message}`);
    });
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));
  }
}

function keyOf(peerId: string, transferId: string): string {
  return `${peerId}/${transferId}`;
}

/** Chunk `index` of the file, read whole (a short read means the file shrank). */
async function readChunk(handle: FileHandle, buffer: Buffer, index: number, offer: FileOffer): Promise<Buffer> {
  const start = index * offer.chunkSize;
  const length = Math.min(offer.chunkSize, offer.size - start);
  let read = 0;
  while (read < length) {
    const { bytesRead } = await handle.read(buffer, read, length - read, start + read);
    if (bytesRead === 0) throw new Error(`the file ended at ${start + read} bytes, before the ${offer.size} it had when offered`);
    read += bytesRead;
  }
  // A copy: the messenger keeps the content until it is encoded, and the buffer is read into again.
  return Buffer.from(buffer.subarray(0, length));
}
