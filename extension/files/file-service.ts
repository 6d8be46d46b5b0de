import type { FilesConfig } from '../config';
import { fingerprintOf } from '../common/peer-id';
import type { Logger } from '../log';
import type { Messenger } from '../messaging/messenger';
import type { InboxStore } from '../store/inbox';
import type { OutboxStore } from '../store/outbox';
import { DEFAULT_FREE_SPACE_MARGIN_BYTES, type FileFolders, prepareFileFolders } from './file-folders';
import { DEFAULT_FILE_RECEIVER_CONFIG, FileReceiver } from './file-receiver';
import { DEFAULT_FILE_SENDER_CONFIG, FileSender } from './file-sender';
import { isFinal, TransferStore } from './transfer-store';

/** The capability a node lists in its hello once it takes leaf types 5-7 (docs/protocol.md §9). */
export const FILES_CAPABILITY = 'files-v1';

type FileEvent = { type: string; subject?: string; data: Record<string, unknown> };

/** Settle reasons that mean the pairing is gone. */
const REVOCATION_REASONS = ['revoked', 'revoked_by_peer'];

export interface FileServiceOptions {
  dataDir: string;
  inbox: InboxStore;
  outbox: OutboxStore;
  messenger: Messenger;
  events: { enqueue(event: { type: string; subject?: string; data: Record<string, unknown> }): void };
  /** The paired peers, and whether one still is. */
  trust: {
    list(): { peerId: string }[];
    isTrusted(peerId: string): boolean;
    stateOf(peerId: string): string | undefined;
    get(peerId: string): { displayName: string } | undefined;
    keyOf(peerId: string): Uint8Array;
  };
  refuse: (peerId: string, reason: string, charged: boolean) => void;
  logger: Logger;
  config: FilesConfig;
  now?: () => number;
}

/**
 * File transfers both ways (design §3): the folders, files.log, the
 * receiver reading the `files` inbox channel and the sender, wired
 * together (the peer's answers to this node's offers arrive on that
 * channel and go to the sender), with the timer that ends what outlived
 * its lifetime and the reaction to a revoked pairing.
 */
export class FileService {
  readonly folders: FileFolders;
  readonly transfers: TransferStore;
  readonly receiver: FileReceiver;
  readonly sender: FileSender;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  /** Peers whose revocation is being applied: a revocation fails every pending message, each with a settle call. */
  private readonly revoking = new Set<string>();

  constructor(private readonly options: FileServiceOptions) {
    const { dataDir, inbox, outbox, messenger, trust, refuse, logger, config } = options;
    const events = { enqueue: (event: FileEvent): void => options.events.enqueue(event.type === 'p2p.file.offered' ? this.withSender(event) : event) };
    const now = options.now ?? Date.now;
    this.folders = prepareFileFolders(dataDir);
    this.transfers = TransferStore.open(
      dataDir,
      {
        maxOutgoing: config.maxOutgoing,
        maxOffersPerPeer: config.maxOffersPerPeer,
        maxFileBytes: config.maxFileBytes,
        retentionMs: config.ttlSeconds * 1000,
      },
      now,
    );
    this.sender = new FileSender({
      transfers: this.transfers,
      folders: this.folders,
      messenger,
      outboxMessage: (messageId) => outbox.get(messageId),
      events,
      pairingEnded: (peerId) => {
        const state = trust.stateOf(peerId);
        return state !== undefined && REVOCATION_REASONS.includes(state) ? state : null;
      },
      logger,
      config: {
        ...DEFAULT_FILE_SENDER_CONFIG,
        chunkBytes: config.chunkBytes,
        windowChunks: config.windowChunks,
        maxFileBytes: config.maxFileBytes,
        ttlSeconds: config.ttlSeconds,
        progressIntervalMs: config.progressMs,
      },
      now,
    });
    this.receiver = new FileReceiver({
      inbox,
      transfers: this.transfers,
      folders: this.folders,
      messenger,
      events,
      peers: () => trust.list().map((peer) => peer.peerId),
      isPaired: (peerId) => trust.isTrusted(peerId),
      refuse,
      outgoingControl: (peerId, transferId, control) => this.sender.control(peerId, transferId, control),
      logger,
      config: {
        ...DEFAULT_FILE_RECEIVER_CONFIG,
        maxPendingBytes: config.maxPendingBytes,
        ttlSeconds: config.ttlSeconds,
        progressIntervalMs: config.progressMs,
        freeSpaceMarginBytes: DEFAULT_FREE_SPACE_MARGIN_BYTES,
      },
      now,
    });
    messenger.onSettled((peerId, _messageId, _state, reason) => {
      if (reason !== null && REVOCATION_REASONS.includes(reason)) this.revoked(peerId, reason);
    });
  }

  start(): void {
    this.receiver.start();
    this.sender.start();
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.config.expirySweepMs);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    await this.sweeping;
    await Promise.all([this.receiver.close(), this.sender.close()]);
    await this.transfers.close();
  }

  /**
   * Counters since start, for `status`. Chunks go again two ways: the
   * messenger puts those no receipt covered on the wire again, and the
   * sender hands over again a chunk whose first copy a restart found lost.
   */
  stats(): { chunksSent: number; chunksResent: number; chunksReceived: number; chunksDuplicate: number } {
    const sender = this.sender.stats();
    return { ...sender, chunksResent: sender.chunksResent + this.options.messenger.bulkResentCount(), ...this.receiver.stats() };
  }

  /**
   * Ends what outlived its lifetime, removes abandoned uploads, and fails
   * the open transfers of a peer no longer paired (a revocation seen while
   * no message to it was pending gives no settle call).
   */
  sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      try {
        await this.receiver.expireDue();
        await this.sender.expireDue();
        const unpaired = new Set(
          this.transfers
            .list()
            .filter((transfer) => !isFinal(transfer.state) && !this.options.trust.isTrusted(transfer.peerId))
            .map((transfer) => transfer.peerId),
        );
        for (const peerId of unpaired) await this.applyRevocation(peerId, 'revoked');
      } catch (error) {
        this.options.logger.error(`the file transfer sweep failed: ${(error as Error).message}; it runs again in ${this.options.config.expirySweepMs} ms`);
      } finally {
        this.sweeping = null;
      }
    })();
    return this.sweeping;
  }

  /**
   * An offer names who it comes from as a person can check it: the name the
   * peer chose and the fingerprint of the key it signs with now (after a
   * rotation not the one its id names), as `p2p.peer.request` does.
   */
  private withSender(event: FileEvent): FileEvent {
    const peerId = event.data['peer'] as string;
    const { trust } = this.options;
    return { ...event, data: { ...event.data, display_name: trust.get(peerId)?.displayName ?? null, fingerprint: fingerprintOf(trust.keyOf(peerId)) } };
  }

  private revoked(peerId: string, reason: string): void {
    if (this.revoking.has(peerId)) return;
    this.revoking.add(peerId);
    void this.applyRevocation(peerId, reason)
      .catch((error: unknown) => this.options.logger.error(`could not end the file transfers of revoked ${peerId}: ${(error as Error).message}`))
      .finally(() => this.revoking.delete(peerId));
  }

  private async applyRevocation(peerId: string, reason: string): Promise<void> {
    await this.sender.peerRevoked(peerId, reason);
    await this.receiver.peerRevoked(peerId, reason);
  }
}
