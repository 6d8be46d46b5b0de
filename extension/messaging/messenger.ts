import type { MessagingConfig } from '../config';
import { P2pError } from '../common/errors';
import type { EventOutbox } from '../events/outbox';
import type { NodeIdentity } from '../identity/node-identity';
import { hexOf } from '../common/hex';
import { TokenBucket } from '../common/token-bucket';
import type { Logger } from '../log';
import type { PeerNetwork, SessionListener } from '../network/peer-network';
import { channelOf, DIGEST_BYTES, type InboxStore, type StoredMessage } from '../store/inbox';
import { type Delivery, isFinal, type OutboxStore, type OutgoingMessage } from '../store/outbox';
import type { TrustStore } from '../trust/trust-store';
import { AckReason, AckStatus, ackReasonName } from '../wire/delivery-codes';
import { decodeHello, encodeHello, type Hello } from '../wire/hello';
import { leafHash, MerkleTree } from '../wire/merkle';
import { encodeLeaf, LEAF_FIXED_BYTES, leafMessageId, type MessageType } from '../wire/message-leaf';
import { encodeMessageProof, messageProof } from '../wire/message-proof';
import { openReceipt, type ReceiptException, signReceipt } from '../wire/receipt';
import { CloseCode } from '../wire/secure-channel';
import { MSG_BATCH, MSG_HELLO, MSG_RECEIPT } from '../wire/session-messages';
import { BATCH_HEADER_BYTES, BatchFormatError, checkBatch, decodeBatch, LEAF_LENGTH_BYTES, MAX_BATCH_BYTES, type SignedBatch, type SignedBatchHeader, signBatchParts } from '../wire/signed-batch';
import { checkAddressing, checkLeaf } from './batch-checks';
import { BulkResends } from './bulk-resends';
import { InFlight } from './in-flight';
import { MessageIds } from './message-ids';
import { SessionReceipts } from './session-receipts';
import { encodeContent } from './payload';

export interface MessengerDeps {
  identity: NodeIdentity;
  trust: TrustStore;
  network: PeerNetwork;
  outbox: OutboxStore;
  inbox: InboxStore;
  events: EventOutbox;
  logger: Logger;
  config: MessagingConfig;
  /** Our own hello: agent name, capabilities, software. */
  hello: () => Hello;
  validAgentName: (name: string) => boolean;
}

/**
 * A session message type handled outside messaging (the agent card, 0x27),
 * so that messaging need not know what it carries: told when a session
 * opens, once the hello has gone out, and handed each message of its type.
 */
export interface SessionMessageHandler {
  opened(peerId: string): void;
  message(peerId: string, body: Uint8Array): void;
}

export interface SendRequest {
  peer: string;
  type: MessageType;
  content: unknown;
  correlationId: string | null;
  ttlSeconds: number | null;
  /** The id to send it under (32 lower-case hex, random): a file offer's id is its transfer id, recorded before it is sent. */
  messageId?: string;
}

export type ReportedState = OutgoingMessage['state'];

/** A message's last state: the outbox records no other after it. */
export type SettledState = 'delivered' | 'failed' | 'expired';

/** Told of each message once its final state is recorded; `reason` is null for 'delivered'. */
export type SettledListener = (peerId: string, messageId: string, state: SettledState, reason: string | null) => void;

/**
 * The messages that go in the bulk lane: they wait behind the ordinary ones
 * and take at most bulkInFlightPerPeer of the in-flight window, so that a
 * transfer never holds back a message sent during it.
 */
function isBulk(type: MessageType): boolean {
  return type === 'file_chunk';
}

/**
 * Whether a sent message's fate is told as p2p.message.* events. Not for
 * chunks: no plugin sends them or knows their ids, the file service reports
 * transfers as p2p.file.* events, and a 1 GiB file would otherwise put
 * thousands of events in the bounded event queue. Not for group copies
 * either: those events are scoped by peer, so a plugin allowed to message
 * a member would learn of groups it has no grant for (a copy failed
 * `group_member_removed` says the member was removed from one).
 */
function announced(type: MessageType): boolean {
  return !isBulk(type) && type !== 'group_message' && type !== 'group_control';
}

/** Longest wait before a message the peer deferred (inbox full, rate limited) is offered again. */
const MAX_DEFER_MS = 60_000;

/** Why messages to a revoked pairing fail: the peer revoked this node, or this node's user revoked the peer. */
const REVOKED_BY_PEER = 'revoked_by_peer';
const REVOKED = 'revoked';

/** A batch being filled by the pump. */
interface BatchDraft {
  ids: string[];
  /** The same ids, to find one in constant time. */
  named: Set<string>;
  leaves: Uint8Array[];
  bytes: number;
  /** The next message did not fit. */
  full: boolean;
}

/** The receiving side of a peer's current session: its batches, and when their receipt goes out. */
interface ReceivingSession {
  receipts: SessionReceipts;
  /** A receipt goes out at the next turn of the event loop. */
  flushSoon: boolean;
  /** A receipt goes out after ackBatchDelayMs. */
  flushTimer: NodeJS.Timeout | null;
}

/**
 * Durable, signed, at-least-once messaging over the peer network (protocol
 * 2). Sending: a message is in the outbox (fsync'd) before `send` returns,
 * goes out in a signed batch whenever a session to its peer is open, and is
 * done only when the peer's signed receipt covers that batch. Receiving: a
 * batch is checked, its messages stored (fsync'd) with their proofs, and
 * only then receipted.
 */
export class Messenger implements SessionListener {
  private readonly inFlight = new InFlight();
  private readonly bulkResends = new BulkResends();
  private readonly messageIds = new MessageIds();
  /** Peers whose waiting messages go out at the next turn of the event loop, in as few batches as the limits allow. */
  private readonly pumpsDue = new Set<string>();
  /** Per peer: ids of ordinary messages waiting to go out on the current session, in send order. */
  private readonly waiting = new Map<string, string[]>();
  /** Per peer: ids of bulk messages waiting to go out on the current session, in send order; a batch takes them after the ordinary ones. */
  private readonly bulkWaiting = new Map<string, string[]>();
  private readonly settledListeners: SettledListener[] = [];
  /** Messages whose refusal by the peer is being recorded. */
  private readonly refusing = new Set<string>();
  /**
   * Messages whose outbox add is still being written, and whether one went
   * out in a batch meanwhile: what `send` says when that write fails. Being
   * back in the waiting line says nothing, as a new session or a receipt
   * timeout puts a message there again after it left.
   */
  private readonly storing = new Map<string, boolean>();
  /**
   * Peers that deferred a message, and how many messages may be in flight
   * to them: one after a deferral, doubling with each message stored, until
   * the full window again (then the entry goes).
   */
  private readonly windows = new Map<string, number>();
  /** Peers that deferred a message, until their pause is over: nothing goes to them meanwhile. */
  private readonly deferTimers = new Map<string, NodeJS.Timeout>();
  /** Per peer: deferrals and duplicates since its last stored message (see pastAllowance). */
  private readonly setbacks = new Map<string, number>();
  /** Per peer: the batches its current session delivered, until receipted. */
  private readonly receiving = new Map<string, ReceivingSession>();
  private readonly hellos = new Map<string, Hello>();
  private readonly handlers = new Map<number, SessionMessageHandler>();
  private readonly peerBuckets = new Map<string, TokenBucket>();
  private readonly globalBucket: TokenBucket;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly deps: MessengerDeps) {
    const { globalRate } = deps.config;
    this.globalBucket = new TokenBucket(globalRate.burst, globalRate.perSecond);
  }

  start(): void {
    this.deps.network.setSessionListener(this);
    const { ackTimeoutMs, expirySweepMs } = this.deps.config;
    this.every(expirySweepMs, () => void this.expireDue());
    this.every(Math.max(10, Math.floor(ackTimeoutMs / 2)), () => this.resendUnacknowledged());
    // A stop between recording a revocation and failing its messages left them pending.
    for (const peerId of this.deps.outbox.pendingPeers()) {
      this.bulkResends.pendingAtStart(this.deps.outbox.pendingFor(peerId).filter((message) => isBulk(message.type)).map((message) => message.messageId));
      const state = this.deps.trust.stateOf(peerId);
      if (state === 'revoked_by_peer') this.revokedByPeer(peerId);
      if (state === 'revoked') void this.revokedHere(peerId);
    }
  }

  close(): void {
    for (const timer of this.timers) clearInterval(timer);
    for (const session of this.receiving.values()) clearTimeout(session.flushTimer ?? undefined);
    for (const timer of this.deferTimers.values()) clearTimeout(timer);
  }

  /** Hands every session message of `type` to `handler`; one handler per type, set while the node is assembled. */
  handle(type: number, handler: SessionMessageHandler): void {
    if (this.handlers.has(type)) throw new Error(`session message type ${type} already has a handler`);
    this.handlers.set(type, handler);
  }

  helloOf(peerId: string): Hello | undefined {
    return this.hellos.get(peerId);
  }

  inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Bulk messages (file chunks) put on the wire again since start, each counted once (see BulkResends). */
  bulkResentCount(): number {
    return this.bulkResends.count();
  }

  /** Calls `listener` after the outbox records a message's final state, wherever it is recorded; once per message. */
  onSettled(listener: SettledListener): void {
    this.settledListeners.push(listener);
  }

  /**
   * Fails those of `messageIds` still pending to the peer (a cancelled
   * transfer's chunks), each with its event and settle call; returns the
   * ids it failed. One already on the wire may still be stored by the peer,
   * which is why a service cancelling a transfer tells the peer too.
   */
  async failPending(peerId: string, messageIds: readonly string[], reason: string): Promise<string[]> {
    const failed = await this.failMessages(peerId, reason, messageIds);
    // Failed in flight, they leave room in the window (a bulk one, in the bulk share).
    if (failed.length > 0) this.schedulePump(peerId);
    return failed;
  }

  async send(request: SendRequest): Promise<{ messageId: string; state: ReportedState; size: number }> {
    const { trust, outbox, config } = this.deps;
    // The caller's own mistakes first: they hold whichever peer it names.
    const content = encodeContent(request.type, request.content, config.maxPayloadBytes);
    this.assertSendable(request.peer);
    const messageId = request.messageId ?? this.messageIds.take();
    const stored = outbox.add({
      messageId,
      peerId: request.peer,
      type: request.type,
      correlationId: request.correlationId,
      content,
      ttlMs: (request.ttlSeconds ?? config.defaultTtlSeconds) * 1000,
    });
    const offer = (): void => {
      if (!this.deps.network.isOnline(request.peer)) return;
      this.lineFor(request.peer, request.type).push(messageId);
      this.schedulePump(request.peer);
    };
    // The outbox holds it at once (unless a compaction runs first): it is signed and sent while its record is written,
    // once the write has started (the log starts it a microtask later, to take the appends of this turn along).
    const queuedAtOnce = outbox.get(messageId) !== undefined;
    this.storing.set(messageId, false);
    let message: OutgoingMessage;
    try {
      await Promise.resolve();
      if (queuedAtOnce && outbox.get(messageId) !== undefined) offer();
      message = await stored;
    } catch (error) {
      // Never in a batch, it never left: the plain storage error says it all.
      if (this.storing.get(messageId) !== true) throw error;
      this.inFlight.delete(messageId);
      throw new P2pError(
        'INTERNAL_ERROR',
        `message ${messageId} to ${request.peer} could not be stored in the outbox (${(error as Error).message}), but it may ` +
          'still have been delivered, as it was sent while it was written: do not take it as lost; if you send it again, ' +
          'the peer may get it twice',
      );
    } finally {
      this.storing.delete(messageId);
    }
    if (!queuedAtOnce) offer();
    if (trust.stateOf(request.peer) === 'revoked_by_peer') {
      // The peer revoked this node while the message was being written: it fails like the others.
      await this.failAllFor(request.peer, REVOKED_BY_PEER);
      return { messageId: message.messageId, state: this.stateOf(outbox.get(message.messageId) ?? message), size: content.length };
    }
    return { messageId: message.messageId, state: this.stateOf(message), size: content.length };
  }

  status(messageId: string): OutgoingMessage & { reportedState: ReportedState } {
    const message = this.deps.outbox.get(messageId);
    if (message === undefined) throw new P2pError('NOT_FOUND', `no message ${messageId} was sent from this node (or it is older than the retention period)`);
    return { ...message, reportedState: this.stateOf(message) };
  }

  async receive(peer: string, after: number, limit: number, waitMs: number): Promise<StoredMessage[]> {
    const { inbox } = this.deps;
    // Checked and waited for in one step: a message stored in between would otherwise be waited for in vain.
    if (waitMs > 0 && !inbox.hasMessagesAfter(peer, after)) await waitForStored(inbox, peer, after, waitMs);
    return inbox.read(peer, after, limit);
  }

  ack(peer: string, through: number): Promise<number> {
    return this.deps.inbox.ack(peer, through);
  }

  // SessionListener

  opened(peerId: string): void {
    const { network } = this.deps;
    network.sendTo(peerId, MSG_HELLO, encodeHello(this.deps.hello()));
    for (const handler of this.handlers.values()) handler.opened(peerId);
    // Whatever was in flight on an earlier session may be lost: offer all of it again.
    this.inFlight.clearPeer(peerId);
    this.endReceiving(peerId);
    this.receiving.set(peerId, { receipts: new SessionReceipts(), flushSoon: false, flushTimer: null });
    this.requeue(peerId);
    this.schedulePump(peerId);
  }

  closed(peerId: string): void {
    this.waiting.delete(peerId);
    this.bulkWaiting.delete(peerId);
    this.inFlight.clearPeer(peerId);
    // Receipts for a closed session are moot: the sender offers what they would cover again on the next one.
    this.endReceiving(peerId);
  }

  revokedByPeer(peerId: string): void {
    this.failAllFor(peerId, REVOKED_BY_PEER).catch((error: unknown) =>
      this.deps.logger.error(`failing the messages to ${peerId} failed: ${(error as Error).message}`),
    );
  }

  /** This node's user revoked the peer: what was still waiting for it can never go, so it fails now. */
  async revokedHere(peerId: string): Promise<void> {
    await this.failAllFor(peerId, REVOKED);
  }

  message(peerId: string, type: number, body: Uint8Array): void {
    switch (type) {
      case MSG_BATCH:
        this.receiveBatch(peerId, body);
        return;
      case MSG_RECEIPT:
        void this.receiveReceipt(peerId, body).catch((error: unknown) => this.deps.logger.error(`recording a receipt from ${peerId} failed: ${(error as Error).message}`));
        return;
      case MSG_HELLO: {
        const hello = decodeHello(body, this.deps.validAgentName);
        if (hello === null) {
          this.deps.network.refuse(peerId, 'bad_hello');
        } else {
          this.hellos.set(peerId, hello);
          this.deps.network.learnDhtBinding(peerId, hello.dhtBinding);
        }
        return;
      }
      default: {
        const handler = this.handlers.get(type);
        if (handler === undefined) this.deps.network.refuse(peerId, `unknown_message_type_${type}`);
        else handler.message(peerId, body);
      }
    }
  }

  // Sending

  /** Refuses at once what could never be delivered, saying why. */
  assertSendable(peerId: string): void {
    if (this.deps.trust.isTrusted(peerId)) return;
    const peer = this.deps.trust.get(peerId);
    if (peer?.state === 'revoked_by_peer') {
      throw new P2pError(
        'REVOKED_BY_PEER',
        `${peerId} (${peer.displayName}) revoked the pairing with this node${peer.revokedAt === null ? '' : ` at ${peer.revokedAt.toISOString()}`}, ` +
          'so nothing can be sent to it. To talk again, both of you must pair again: run pair with its pairing link and have its user accept, or accept a request from it',
      );
    }
    throw new P2pError('NOT_FOUND', `${peerId} is not a paired peer; pair with it first (see peers)`);
  }

  private lineFor(peerId: string, type: MessageType): string[] {
    const lines = isBulk(type) ? this.bulkWaiting : this.waiting;
    let line = lines.get(peerId);
    if (line === undefined) {
      line = [];
      lines.set(peerId, line);
    }
    return line;
  }

  /**
   * Runs the peer's pump once at the next turn of the event loop, however
   * many sends ask for it before then: the messages accepted in one turn go
   * out in one batch, and none waits longer than that turn. There is no
   * timer waiting for a batch to fill; under load, what arrives while a
   * turn runs makes the next batch.
   */
  private schedulePump(peerId: string): void {
    if (this.pumpsDue.has(peerId)) return;
    this.pumpsDue.add(peerId);
    setImmediate(() => {
      this.pumpsDue.delete(peerId);
      this.pump(peerId);
    });
  }

  /**
   * Sends what waits for the peer while its in-flight window has room, in
   * signed batches of at most maxBatchLeaves messages and MAX_BATCH_BYTES:
   * the ordinary messages first, then bulk ones while fewer than
   * bulkInFlightPerPeer of those are in flight. Signed at transmission
   * time: a batch of messages that waited in the outbox still carries a
   * fresh time, while each message's leaf (with the time it was accepted)
   * stays the same bytes at every transmission.
   */
  private pump(peerId: string): void {
    const { network, identity, config } = this.deps;
    const line = this.waiting.get(peerId);
    const bulkLine = this.bulkWaiting.get(peerId);
    if ((line === undefined && bulkLine === undefined) || this.deferTimers.has(peerId)) return;
    // Addressed to the key the peer holds now (it may have rotated since the message was queued).
    const recipient = this.deps.trust.keyOf(peerId);
    const window = this.windows.get(peerId) ?? config.maxInFlightPerPeer;
    for (;;) {
      const bulkRoom = bulkLine === undefined || bulkLine.length === 0 ? 0 : config.bulkInFlightPerPeer - this.inFlight.bulkCountFor(peerId);
      if ((line === undefined || line.length === 0) && bulkRoom <= 0) return;
      // Each batch's ids are remembered until a receipt covers it, and each ack timeout offers its messages again: at most a window in flight and that window offered again, so that a peer sending no receipt cannot grow them without end.
      const unreceipted = 2 * config.maxInFlightPerPeer - this.inFlight.awaitingReceipt(peerId);
      const room = Math.min(config.maxBatchLeaves, window - this.inFlight.countFor(peerId), unreceipted);
      if (room <= 0) return;
      const batch: BatchDraft = { ids: [], named: new Set(), leaves: [], bytes: BATCH_HEADER_BYTES, full: false };
      const taken = line === undefined ? 0 : this.fill(batch, line, room);
      const ordinary = batch.ids.length;
      const bulkTaken = bulkRoom > 0 && !batch.full ? this.fill(batch, bulkLine as string[], ordinary + Math.min(room - ordinary, bulkRoom)) : 0;
      const { ids } = batch;
      if (ids.length > 0 && !network.sendTo(peerId, MSG_BATCH, signBatchParts(batch.leaves, identity, recipient, Date.now()))) return;
      if (this.storing.size > 0) for (const id of ids) if (this.storing.has(id)) this.storing.set(id, true);
      if (taken > 0) (line as string[]).splice(0, taken);
      if (bulkTaken > 0) (bulkLine as string[]).splice(0, bulkTaken);
      for (let index = ordinary; index < ids.length; index += 1) this.bulkResends.sent(ids[index] as string);
      if (ids.length > 0) this.inFlight.addBatch(peerId, ids, Date.now(), ids.length - ordinary);
    }
  }

  /**
   * Adds messages from the front of `line` to the batch until it names
   * `limit` of them or the next would not fit; returns how many entries of
   * the line it went through (those settled or in flight meanwhile are
   * passed over).
   */
  private fill(batch: BatchDraft, line: readonly string[], limit: number): number {
    const { outbox } = this.deps;
    let taken = 0;
    for (; taken < line.length && batch.ids.length < limit; taken += 1) {
      const id = line[taken] as string;
      const message = outbox.get(id);
      // A batch names each message once: the receiver takes a repeated id for a malformed batch.
      if (message === undefined || isFinal(message.state) || this.inFlight.has(id) || batch.named.has(id)) continue;
      const leaf = encodeLeaf({
        messageId: Buffer.from(id, 'hex'),
        createdAt: message.createdAt.getTime(),
        type: message.type,
        correlationId: message.correlationId,
        payload: message.content,
      });
      // A single message always fits (maxPayloadBytes is at most 1 MiB); more wait for the next batch.
      if (batch.ids.length > 0 && batch.bytes + LEAF_LENGTH_BYTES + leaf.length > MAX_BATCH_BYTES) {
        batch.full = true;
        break;
      }
      batch.bytes += LEAF_LENGTH_BYTES + leaf.length;
      batch.ids.push(id);
      batch.named.add(id);
      batch.leaves.push(leaf);
    }
    return taken;
  }

  /**
   * Settles every message of the batches a receipt covers: those it lists
   * as refused or deferred accordingly, the rest delivered. A receipt that
   * does not hold (its form, its signature, a gap or overlap with the
   * previous one, an id not in the batches it covers) changes nothing and
   * is charged (`bad_receipt`).
   */
  private async receiveReceipt(peerId: string, body: Uint8Array): Promise<void> {
    const { identity, network } = this.deps;
    const session = network.sessionIdOf(peerId);
    if (session === null) return;
    const receipt = openReceipt(body, { acker: this.deps.trust.keyOf(peerId), sender: identity.publicKey, session });
    const covered = typeof receipt === 'string' ? null : this.inFlight.covered(peerId, receipt.firstBatch, receipt.lastBatch);
    const exceptions = new Map<string, ReceiptException>();
    if (typeof receipt !== 'string') for (const exception of receipt.exceptions) exceptions.set(hexOf(exception.messageId), exception);
    if (typeof receipt === 'string' || covered === null || ![...exceptions.keys()].every((id) => covered.has(id))) {
      network.refuse(peerId, 'bad_receipt');
      return;
    }
    this.inFlight.settle(peerId, receipt.lastBatch);
    const delivered: string[] = [];
    const answered: Promise<number>[] = [];
    for (const id of covered) {
      const exception = exceptions.get(id);
      if (exception === undefined) delivered.push(id);
      else answered.push(this.applyException(peerId, id, exception));
    }
    this.recordDelivered(peerId, delivered);
    // Applied together (each one's outbox write joins the same group commit); a deferral pauses the peer once, however many it covers.
    const deferredAttempts = Math.max(0, ...(await Promise.all(answered)));
    if (deferredAttempts > 0) {
      this.deferPeer(peerId, deferredAttempts);
      this.requeue(peerId);
    }
    this.schedulePump(peerId);
  }

  /**
   * The messages a receipt covers without an exception: delivered, in one
   * lazy outbox record for them all (a crash that loses it only means they
   * are offered again, and the peer drops the copies). A message already
   * settled, or listed twice (offered again on the same session, so in two
   * of the batches covered), is settled once.
   */
  private recordDelivered(peerId: string, ids: readonly string[]): void {
    const { outbox, events } = this.deps;
    const deliveries: Delivery[] = [];
    /** Each delivery's message type, at the same index. */
    const types: MessageType[] = [];
    const settled = new Set<string>();
    for (const id of ids) {
      const message = outbox.get(id);
      if (message === undefined || isFinal(message.state) || settled.has(id)) continue;
      settled.add(id);
      this.inFlight.delete(id);
      this.widenWindow(peerId);
      deliveries.push({ messageId: id, attempts: message.attempts + 1 });
      types.push(message.type);
    }
    outbox.markDelivered(deliveries);
    deliveries.forEach(({ messageId }, index) => {
      if (announced(types[index] as MessageType)) events.enqueue({ type: 'p2p.message.delivered', subject: peerId, data: { peer: peerId, message_id: messageId } });
      this.settled(peerId, messageId, 'delivered', null);
    });
  }

  /** Records what the peer's exception says of one message; returns its attempts so far when the peer deferred it, else 0. */
  private async applyException(peerId: string, id: string, exception: ReceiptException): Promise<number> {
    const { outbox, events } = this.deps;
    const message = outbox.get(id);
    // A second answer to a message already settled (it was offered twice) is normal and changes nothing.
    if (message === undefined || isFinal(message.state)) return 0;
    this.inFlight.delete(id);
    const attempts = message.attempts + 1;
    if (exception.status === AckStatus.REFUSED) {
      const reason = ackReasonName(exception.reason);
      // Offered twice, it may be refused by two receipts at once: one records and tells.
      if (this.refusing.has(id)) return 0;
      this.refusing.add(id);
      let recorded: OutgoingMessage;
      try {
        recorded = await outbox.update(id, { state: 'failed', reason, attempts });
      } finally {
        this.refusing.delete(id);
      }
      // A revocation failed it meanwhile, and told of it.
      if (recorded.state !== 'failed' || recorded.reason !== reason) return 0;
      if (announced(message.type)) events.enqueue({ type: 'p2p.message.rejected', subject: peerId, data: { peer: peerId, message_id: id, reason, side: 'remote' } });
      this.settled(peerId, id, 'failed', reason);
      return 0;
    }
    await outbox.update(id, { reason: ackReasonName(exception.reason), attempts });
    return attempts;
  }

  /**
   * The peer asked us to hold back: offer again after a growing, jittered
   * pause, one message at a time until one is stored, then a window that
   * doubles with each one stored, so that a peer whose inbox is full or
   * nearly so is not sent a whole window to refuse at every try. A new
   * deferral replaces the pause under way.
   */
  private deferPeer(peerId: string, attempts: number): void {
    this.windows.set(peerId, 1);
    clearTimeout(this.deferTimers.get(peerId));
    const delay = Math.floor(Math.random() * Math.min(MAX_DEFER_MS, 100 * 2 ** Math.min(attempts, 16)));
    const timer = setTimeout(() => {
      this.deferTimers.delete(peerId);
      this.schedulePump(peerId);
    }, delay);
    timer.unref();
    this.deferTimers.set(peerId, timer);
  }

  private widenWindow(peerId: string): void {
    const window = this.windows.get(peerId);
    if (window === undefined) return;
    if (window * 2 >= this.deps.config.maxInFlightPerPeer) this.windows.delete(peerId);
    else this.windows.set(peerId, window * 2);
  }

  private resendUnacknowledged(): void {
    for (const peer of this.inFlight.takeOlderThan(Date.now() - this.deps.config.ackTimeoutMs)) {
      this.requeue(peer);
      this.schedulePump(peer);
    }
  }

  /** Rebuilds the peer's two waiting lines from the outbox, so messages offered again keep their send order within each. */
  private requeue(peerId: string): void {
    if (!this.deps.network.isOnline(peerId)) return;
    const line: string[] = [];
    const bulkLine: string[] = [];
    for (const message of this.deps.outbox.pendingFor(peerId)) {
      if (!this.inFlight.has(message.messageId)) (isBulk(message.type) ? bulkLine : line).push(message.messageId);
    }
    this.waiting.set(peerId, line);
    this.bulkWaiting.set(peerId, bulkLine);
  }

  private async expireDue(): Promise<void> {
    for (const message of await this.deps.outbox.expireDue()) {
      this.inFlight.delete(message.messageId);
      if (announced(message.type)) {
        this.deps.events.enqueue({
          type: 'p2p.message.expired',
          subject: message.peerId,
          data: { peer: message.peerId, message_id: message.messageId },
        });
      }
      this.settled(message.peerId, message.messageId, 'expired', message.reason);
    }
  }

  /** Nothing can reach a revoked pairing (either side's revocation): its pending messages fail now, each with an event, instead of waiting out their TTL. */
  private async failAllFor(peerId: string, reason: typeof REVOKED_BY_PEER | typeof REVOKED): Promise<void> {
    this.waiting.delete(peerId);
    this.bulkWaiting.delete(peerId);
    await this.failMessages(peerId, reason);
  }

  /** Fails the pending messages to the peer (only those of `messageIds`, if given), each with its event; returns the ids failed. */
  private async failMessages(peerId: string, reason: string, messageIds?: readonly string[]): Promise<string[]> {
    const failed: string[] = [];
    for (const { messageId, type } of await this.deps.outbox.failPending(peerId, reason, messageIds)) {
      this.inFlight.delete(messageId);
      if (announced(type)) this.deps.events.enqueue({ type: 'p2p.message.failed', subject: peerId, data: { message_id: messageId, peer: peerId, reason } });
      this.settled(peerId, messageId, 'failed', reason);
      failed.push(messageId);
    }
    return failed;
  }

  /** Tells the settle listeners; one that throws is logged, and keeps neither the others nor messaging from going on. */
  private settled(peerId: string, messageId: string, state: SettledState, reason: string | null): void {
    this.bulkResends.settled(messageId);
    for (const listener of this.settledListeners) {
      try {
        listener(peerId, messageId, state, reason);
      } catch (error) {
        this.deps.logger.error(`a listener for settled messages failed on message ${messageId} to ${peerId}: ${(error as Error).message}`);
      }
    }
  }

  private stateOf(message: OutgoingMessage): ReportedState {
    return message.state === 'queued' && this.inFlight.has(message.messageId) ? 'sent' : message.state;
  }
  // Receiving

  /**
   * The p-th batch of the session. Bytes that do not frame as a batch (or a
   * batch naming one id twice, or a leaf too short to name one) close the
   * session: an honest peer never sends them, and there is no id to answer.
   * The rest is decided message by message (decideBatch) and receipted in
   * session order.
   */
  private receiveBatch(peerId: string, body: Uint8Array): void {
    const session = this.receiving.get(peerId);
    if (session === undefined) return;
    const position = session.receipts.arrived();
    let batch: SignedBatch;
    try {
      batch = decodeBatch(body);
    } catch (error) {
      if (!(error instanceof BatchFormatError)) throw error;
      this.closeForMalformedBatch(peerId, error.message);
      return;
    }
    // In hex once per leaf: the stores and events name messages so.
    const ids: string[] = [];
    for (const leaf of batch.leaves) {
      if (leaf.length < LEAF_FIXED_BYTES) return this.closeForMalformedBatch(peerId, `a leaf of ${leaf.length} bytes cannot hold a message`);
      ids.push(hexOf(leafMessageId(leaf)));
    }
    if (new Set(ids).size !== ids.length) return this.closeForMalformedBatch(peerId, 'the batch names a message id twice');
    void this.decideBatch(peerId, batch, ids).then(
      ({ exceptions, stored }) => this.decided(peerId, session, position, exceptions, stored),
      (error: unknown) => {
        // Not the peer's doing: every message is deferred, so the sender offers them again (a stored one is then a duplicate).
        this.deps.logger.error(`storing messages from ${peerId} failed: ${(error as Error).message}`);
        const exceptions = batch.leaves.map((leaf) => this.refuse(peerId, leafMessageId(leaf), AckReason.STORAGE_ERROR, AckStatus.DEFERRED, 'free'));
        this.decided(peerId, session, position, exceptions, false);
      },
    );
  }

  private closeForMalformedBatch(peerId: string, why: string): void {
    this.deps.network.refuse(peerId, 'batch_malformed');
    this.deps.network.closeSession(peerId, CloseCode.BAD_FRAME, 'malformed batch');
    this.deps.logger.warn(`${peerId} sent a batch that does not frame (${why}); session closed`);
  }

  /**
   * Every step is paid for before the next, more expensive one: the rate
   * per message first, the batch's addressing before any hash, duplicates
   * before the tree (a duplicate is answered even if the signature fails,
   * as the answer only repeats what is stored), one tree and one signature
   * check per batch, each message's own fields, then the disk. Returns the
   * receipt's exceptions for this batch, and whether it stored anything.
   */
  private async decideBatch(peerId: string, batch: SignedBatch, ids: readonly string[]): Promise<{ exceptions: ReceiptException[]; stored: boolean }> {
    const { identity, trust, config } = this.deps;
    const { header, leaves } = batch;
    const exceptions: ReceiptException[] = [];
    const rated: number[] = [];
    leaves.forEach((leaf, index) => {
      const rate = this.takeRateToken(peerId);
      if (rate === 'ok') rated.push(index);
      // The node's overall rate is its own state, not this peer's doing.
      else exceptions.push(this.refuse(peerId, leafMessageId(leaf), AckReason.RATE_LIMITED, AckStatus.DEFERRED, rate === 'peer' ? 'after_allowance' : 'free'));
    });
    if (rated.length === 0) return { exceptions, stored: false };
    const misaddressed = checkAddressing(header, { me: identity.publicKey, sessionPeer: peerId, trust, now: Date.now(), clockSkewMs: config.clockSkewMs });
    if (misaddressed !== null) {
      for (const index of rated) exceptions.push(this.refuse(peerId, leafMessageId(leaves[index] as Uint8Array), misaddressed, AckStatus.REFUSED, 'charged'));
      return { exceptions, stored: false };
    }
    const hashes = leaves.map(leafHash);
    const fresh: number[] = [];
    for (const index of rated) {
      const recognized = this.recognize(peerId, leaves[index] as Uint8Array, ids[index] as string, hashes[index] as Uint8Array);
      if (recognized === 'new') fresh.push(index);
      else if (recognized !== null) exceptions.push(recognized);
    }
    if (fresh.length === 0) return { exceptions, stored: false };
    const tree = MerkleTree.fromLeafHashes(hashes);
    if (checkBatch(header, tree) !== null) {
      for (const index of fresh) exceptions.push(this.refuse(peerId, leafMessageId(leaves[index] as Uint8Array), AckReason.BAD_SIGNATURE, AckStatus.REFUSED, 'charged'));
      return { exceptions, stored: false };
    }
    const outcomes = await Promise.all(fresh.map((index) => this.storeLeaf(peerId, header, tree, index, leaves[index] as Uint8Array, ids[index] as string)));
    for (const outcome of outcomes) if (outcome !== 'stored' && outcome !== null) exceptions.push(outcome);
    return { exceptions, stored: outcomes.includes('stored') };
  }

  /**
   * 'new', or, for an id this peer already used: null for a duplicate (the
   * same leaf, a retransmission: answered as stored), or the refusal of
   * another message under that id (`id_reused`).
   */
  private recognize(peerId: string, leaf: Uint8Array, id: string, hash: Uint8Array): 'new' | ReceiptException | null {
    const recognized = this.deps.inbox.recognize(peerId, id, hash.subarray(0, DIGEST_BYTES));
    if (recognized === 'new') return 'new';
    if (recognized === 'id_reused') return this.refuse(peerId, leafMessageId(leaf), AckReason.ID_REUSED, AckStatus.REFUSED, 'charged');
    this.countDuplicate(peerId);
    return null;
  }

  /** 'stored', null for a duplicate, or the exception the receipt lists. */
  private async storeLeaf(peerId: string, header: SignedBatchHeader, tree: MerkleTree, index: number, leaf: Uint8Array, id: string): Promise<'stored' | ReceiptException | null> {
    const { inbox, config } = this.deps;
    const messageId = leafMessageId(leaf);
    const checked = checkLeaf(leaf, config.maxPayloadBytes);
    if (typeof checked === 'number') return this.refuse(peerId, messageId, checked, AckStatus.REFUSED, 'charged');
    let stored: StoredMessage;
    try {
      stored = await inbox.add({
        messageId: id,
        peerId,
        type: checked.type,
        correlationId: checked.correlationId,
        content: checked.payload,
        digest: tree.leafHash(index).subarray(0, DIGEST_BYTES),
        proof: encodeMessageProof(messageProof(header, tree, index)),
        sentAt: new Date(checked.createdAt),
      });
    } catch (error) {
      // The same id stored meanwhile, from another batch: a duplicate, or another message under it.
      if (error instanceof P2pError && error.errorName === 'CONFLICT') {
        const recognized = this.recognize(peerId, leaf, id, tree.leafHash(index));
        if (recognized !== 'new') return recognized;
      }
      if (error instanceof P2pError && error.errorName === 'LIMIT_REACHED') return this.refuse(peerId, messageId, AckReason.INBOX_FULL, AckStatus.DEFERRED, 'after_allowance');
      this.deps.logger.error(`cannot store a message from ${peerId}: ${(error as Error).message}`);
      return this.refuse(peerId, messageId, AckReason.STORAGE_ERROR, AckStatus.DEFERRED, 'free');
    }
    this.setbacks.delete(peerId);
    // A2A messages are the A2A service's to announce, as requests and answers: `receive` never returns them.
    if (channelOf(stored.type) === 'messages') {
      this.deps.events.enqueue({
        type: 'p2p.message.received',
        subject: peerId,
        data: { peer: peerId, message_id: id, type: stored.type, size: stored.content.length, cursor: stored.cursor },
      });
    }
    return 'stored';
  }

  /** Which bucket, if any, had no token: the peer's own, or the node's overall one. */
  private takeRateToken(peerId: string): 'ok' | 'peer' | 'global' {
    const { peerRate } = this.deps.config;
    let bucket = this.peerBuckets.get(peerId);
    if (bucket === undefined) {
      bucket = new TokenBucket(peerRate.burst, peerRate.perSecond);
      this.peerBuckets.set(peerId, bucket);
    }
    if (!bucket.take()) return 'peer';
    return this.globalBucket.take() ? 'ok' : 'global';
  }

  /** A message stored before, offered again: receipted as stored, and counted against the peer only past its allowance. */
  private countDuplicate(peerId: string): void {
    if (this.pastAllowance(peerId)) this.deps.network.refuse(peerId, 'message_duplicate_past_allowance');
  }

  /**
   * Counts a deferral or duplicate since the peer's last stored message;
   * true once there are more than an honest peer causes: a whole in-flight
   * window sent before it heard the first answer, twice over (a reconnect
   * offers everything unacknowledged again).
   */
  private pastAllowance(peerId: string): boolean {
    const count = (this.setbacks.get(peerId) ?? 0) + 1;
    this.setbacks.set(peerId, count);
    return count > 2 * this.deps.config.maxInFlightPerPeer;
  }

  /**
   * Counted and tallied into one event per peer per interval, listed in the
   * receipt, and charged to the peer's refusal budget (the network cuts off
   * a peer past it) as `charge` says: `charged`, input an honest peer never
   * sends; `after_allowance`, what an honest peer causes a window's worth of
   * before it hears the answer (its rate, its share of the inbox); `free`,
   * this node's own state (its disk, its overall rate), never the peer's
   * doing.
   */
  private refuse(
    peerId: string,
    messageId: Uint8Array,
    reason: ReceiptException['reason'],
    status: ReceiptException['status'],
    charge: 'charged' | 'after_allowance' | 'free',
  ): ReceiptException {
    const name = ackReasonName(reason);
    const charged = charge === 'charged' || (charge === 'after_allowance' && this.pastAllowance(peerId));
    this.deps.network.refuse(peerId, `message_${name}`, charged);
    const id = hexOf(messageId);
    this.deps.events.tally('p2p.message.rejected', peerId, name, { peer: peerId, message_id: id, reason: name, side: 'local' });
    return { messageId: new Uint8Array(messageId), status, reason };
  }

  /**
   * Records a decided batch and schedules the receipt that covers it: at
   * the next turn of the event loop when it (or a batch decided before it,
   * waiting for an earlier one) stored something, which gathers every batch
   * one fsync made durable under one signature without delaying any; after
   * ackBatchDelayMs otherwise, so that a peer sending batches that are
   * refused gets few signatures whatever its rate. Never before the fsync:
   * a receipt claims durable storage.
   */
  private decided(peerId: string, session: ReceivingSession, position: number, exceptions: ReceiptException[], stored: boolean): void {
    // The session ended meanwhile: the sender offers its batches again on the next one.
    if (this.receiving.get(peerId) !== session) return;
    if (session.receipts.decide(position, exceptions, stored) === 'now') {
      if (session.flushSoon) return;
      session.flushSoon = true;
      setImmediate(() => {
        session.flushSoon = false;
        this.sendReceipts(peerId, session);
      });
    } else if (session.flushTimer === null) {
      // Not unref'd: it is short, and close() clears it.
      session.flushTimer = setTimeout(() => this.sendReceipts(peerId, session), this.deps.config.ackBatchDelayMs);
    }
  }

  /** The receipts due, signed for this session. */
  private sendReceipts(peerId: string, session: ReceivingSession): void {
    clearTimeout(session.flushTimer ?? undefined);
    session.flushTimer = null;
    const sessionId = this.deps.network.sessionIdOf(peerId);
    if (this.receiving.get(peerId) !== session || sessionId === null) return;
    const sender = this.deps.trust.keyOf(peerId);
    for (const receipt of session.receipts.take()) {
      this.deps.network.sendTo(peerId, MSG_RECEIPT, signReceipt(receipt, this.deps.identity, sender, sessionId));
    }
  }

  private endReceiving(peerId: string): void {
    const session = this.receiving.get(peerId);
    if (session === undefined) return;
    clearTimeout(session.flushTimer ?? undefined);
    this.receiving.delete(peerId);
  }

  private every(ms: number, task: () => void): void {
    const timer = setInterval(task, ms);
    timer.unref();
    this.timers.push(timer);
  }
}

/** Resolves once the inbox stores a message for `receive` of this peer with a cursor above `after`, or after `waitMs`. */
function waitForStored(inbox: InboxStore, peer: string, after: number, waitMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, waitMs);
    function onStored(message: StoredMessage): void {
      if (message.peerId === peer && message.cursor > after && channelOf(message.type) === 'messages') done();
    }
    function done(): void {
      clearTimeout(timer);
      inbox.off('stored', onStored);
      resolve();
    }
    inbox.on('stored', onStored);
  });
}
