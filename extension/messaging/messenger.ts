import { randomBytes } from 'node:crypto';
import type { MessagingConfig } from '../config';
import { P2pError } from '../common/errors';
import type { EventOutbox } from '../events/outbox';
import type { NodeIdentity } from '../identity/node-identity';
import { publicKeyFromPeerId } from '../common/peer-id';
import { TokenBucket } from '../common/token-bucket';
import type { Logger } from '../log';
import type { PeerNetwork, SessionListener } from '../network/peer-network';
import type { InboxStore, StoredMessage } from '../store/inbox';
import type { OutboxStore, OutgoingMessage } from '../store/outbox';
import type { TrustStore } from '../trust/trust-store';
import { type Ack, AckReason, AckStatus, ackReasonName, openAck, signAck } from '../wire/ack';
import { ACK_BATCH_CAPABILITY, openAckBatch, signAckBatch } from '../wire/ack-batch';
import {
  decodeEnvelope,
  encodeEnvelope,
  MESSAGE_ID_BYTES,
  NONCE_BYTES,
  PayloadTooLarge,
  peekMessageId,
  signEnvelope,
  type MessageType,
  type SignedEnvelope,
} from '../wire/envelope';
import { decodeHello, encodeHello, type Hello } from '../wire/hello';
import { MSG_ACK, MSG_ACK_BATCH, MSG_ENVELOPE, MSG_HELLO } from '../wire/session-messages';
import { checkAddressing, checkContent } from './envelope-checks';
import { InFlight } from './in-flight';
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

export interface SendRequest {
  peer: string;
  type: MessageType;
  content: unknown;
  correlationId: string | null;
  ttlSeconds: number | null;
}

export type ReportedState = OutgoingMessage['state'];

/** Longest wait before a message the peer deferred (inbox full, rate limited) is offered again. */
const MAX_DEFER_MS = 60_000;

/** Why messages to a revoked pairing fail: the peer revoked this node, or this node's user revoked the peer. */
const REVOKED_BY_PEER = 'revoked_by_peer';
const REVOKED = 'revoked';

/**
 * Durable, signed, at-least-once messaging over the peer network. Sending:
 * a message is in the outbox (fsync'd) before `send` returns, goes out
 * signed whenever a session to its peer is open, and is done only when the
 * peer returns a signed ack saying it stored it. Receiving: an envelope is
 * checked, stored (fsync'd), and only then acknowledged.
 */
export class Messenger implements SessionListener {
  private readonly inFlight = new InFlight();
  /** Per peer: ids waiting to go out on the current session, in send order. */
  private readonly waiting = new Map<string, string[]>();
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
  /** Per peer: answers waiting to go out together under one signature. */
  private readonly pendingAcks = new Map<string, Ack[]>();
  private readonly ackFlushTimers = new Map<string, NodeJS.Timeout>();
  /** Peers whose answers go out at the next turn of the event loop (something was stored). */
  private readonly ackFlushSoon = new Set<string>();
  private readonly hellos = new Map<string, Hello>();
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
      const state = this.deps.trust.stateOf(peerId);
      if (state === 'revoked_by_peer') this.revokedByPeer(peerId);
      if (state === 'revoked') void this.revokedHere(peerId);
    }
  }

  close(): void {
    for (const timer of this.timers) clearInterval(timer);
    for (const timer of this.ackFlushTimers.values()) clearTimeout(timer);
    for (const timer of this.deferTimers.values()) clearTimeout(timer);
  }

  helloOf(peerId: string): Hello | undefined {
    return this.hellos.get(peerId);
  }

  inFlightCount(): number {
    return this.inFlight.size;
  }

  async send(request: SendRequest): Promise<{ messageId: string; state: ReportedState }> {
    const { trust, outbox, config } = this.deps;
    // The caller's own mistakes first: they hold whichever peer it names.
    const content = encodeContent(request.type, request.content, config.maxPayloadBytes);
    this.assertSendable(request.peer);
    const messageId = randomBytes(MESSAGE_ID_BYTES).toString('hex');
    const stored = outbox.add({
      messageId,
      peerId: request.peer,
      type: request.type,
      correlationId: request.correlationId,
      content,
      ttlMs: (request.ttlSeconds ?? config.defaultTtlSeconds) * 1000,
    });
    const offer = (): boolean => {
      if (!this.deps.network.isOnline(request.peer)) return false;
      this.queueFor(request.peer).push(messageId);
      this.pump(request.peer);
      return true;
    };
    // The outbox holds it at once (unless a compaction runs first): it is signed and sent while its record is written,
    // once the write has started (the log starts it a microtask later, to take the appends of this turn along).
    const queuedAtOnce = outbox.get(messageId) !== undefined;
    await Promise.resolve();
    const offeredAtOnce = queuedAtOnce && outbox.get(messageId) !== undefined && offer();
    let message: OutgoingMessage;
    try {
      message = await stored;
    } catch (error) {
      if (!offeredAtOnce && !this.inFlight.has(messageId)) throw error;
      this.inFlight.delete(messageId);
      throw new P2pError(
        'INTERNAL_ERROR',
        `message ${messageId} to ${request.peer} could not be stored in the outbox (${(error as Error).message}), but it may ` +
          'still have been delivered, as it was sent while it was written: do not take it as lost; if you send it again, ' +
          'the peer may get it twice',
      );
    }
    if (!queuedAtOnce) offer();
    if (trust.stateOf(request.peer) === 'revoked_by_peer') {
      // The peer revoked this node while the message was being written: it fails like the others.
      await this.failAllFor(request.peer, REVOKED_BY_PEER);
      return { messageId: message.messageId, state: this.stateOf(outbox.get(message.messageId) ?? message) };
    }
    return { messageId: message.messageId, state: this.stateOf(message) };
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
    // Whatever was in flight on an earlier session may be lost: offer all of it again.
    this.inFlight.clearPeer(peerId);
    this.requeue(peerId);
    this.pump(peerId);
  }

  closed(peerId: string): void {
    this.waiting.delete(peerId);
    this.inFlight.clearPeer(peerId);
    // Answers for a closed session are moot: the sender offers those messages again on the next one.
    this.pendingAcks.delete(peerId);
    clearTimeout(this.ackFlushTimers.get(peerId));
    this.ackFlushTimers.delete(peerId);
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
      case MSG_ENVELOPE:
        void this.receiveEnvelope(peerId, body).catch((error: unknown) => this.deps.logger.error(`storing a message from ${peerId} failed: ${(error as Error).message}`));
        return;
      case MSG_ACK:
      case MSG_ACK_BATCH:
        void this.receiveAcks(peerId, type, body).catch((error: unknown) => this.deps.logger.error(`recording an ack from ${peerId} failed: ${(error as Error).message}`));
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
      default:
        this.deps.network.refuse(peerId, `unknown_message_type_${type}`);
    }
  }

  // Sending

  /** Refuses at once what could never be delivered, saying why. */
  private assertSendable(peerId: string): void {
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

  private queueFor(peerId: string): string[] {
    let queue = this.waiting.get(peerId);
    if (queue === undefined) {
      queue = [];
      this.waiting.set(peerId, queue);
    }
    return queue;
  }

  /** Sends waiting messages while the peer's in-flight window has room. */
  private pump(peerId: string): void {
    const { outbox, network, identity, config } = this.deps;
    const queue = this.waiting.get(peerId);
    if (queue === undefined || this.deferTimers.has(peerId)) return;
    const recipient = publicKeyFromPeerId(peerId);
    const window = this.windows.get(peerId) ?? config.maxInFlightPerPeer;
    while (queue.length > 0 && this.inFlight.countFor(peerId) < window) {
      const id = queue[0] as string;
      const message = outbox.get(id);
      if (message === undefined || isFinal(message.state) || this.inFlight.has(id)) {
        queue.shift();
        continue;
      }
      // Signed at transmission time: a message that waited in the outbox still carries a fresh timestamp.
      const envelope = signEnvelope(
        {
          messageId: Buffer.from(id, 'hex'),
          sender: identity.publicKey,
          recipient,
          timestamp: Date.now(),
          nonce: randomBytes(NONCE_BYTES),
          type: message.type,
          correlationId: message.correlationId,
          payload: message.content,
        },
        (bytes) => identity.sign(bytes),
      );
      if (!network.sendTo(peerId, MSG_ENVELOPE, encodeEnvelope(envelope))) return;
      queue.shift();
      this.inFlight.add(id, peerId, Date.now());
    }
  }

  private async receiveAcks(peerId: string, type: number, body: Uint8Array): Promise<void> {
    const { identity, network } = this.deps;
    const acker = publicKeyFromPeerId(peerId);
    const acks = type === MSG_ACK_BATCH ? openAckBatch(body, acker, identity.publicKey) : nullable(openAck(body, acker, identity.publicKey));
    if (acks === null) {
      network.refuse(peerId, 'bad_ack');
      return;
    }
    // Applied together (each one's outbox write joins the same group commit); a deferral pauses the peer once, however many it covers.
    const deferredAttempts = Math.max(0, ...(await Promise.all(acks.map((ack) => this.applyAck(peerId, ack)))));
    if (deferredAttempts > 0) {
      this.deferPeer(peerId, deferredAttempts);
      this.requeue(peerId);
    }
    this.pump(peerId);
  }

  /** Records one answer; returns the message's attempts so far when the peer deferred it, else 0. */
  private async applyAck(peerId: string, ack: Ack): Promise<number> {
    const { outbox, events, network } = this.deps;
    const id = Buffer.from(ack.messageId).toString('hex');
    const message = outbox.get(id);
    if (message === undefined || message.peerId !== peerId) {
      network.refuse(peerId, 'unexpected_ack');
      return 0;
    }
    // A second answer to a message already settled (it was offered twice) is normal and changes nothing.
    if (isFinal(message.state)) return 0;
    this.inFlight.delete(id);
    const attempts = message.attempts + 1;
    if (ack.status === AckStatus.STORED || ack.status === AckStatus.DUPLICATE) {
      this.widenWindow(peerId);
      // Lazy: a crash that loses it only means the message is offered again, and the peer drops the copy.
      await outbox.update(id, { state: 'delivered', reason: null, attempts }, { durable: false });
      events.enqueue({ type: 'p2p.message.delivered', subject: peerId, data: { peer: peerId, message_id: id } });
      return 0;
    }
    if (ack.status === AckStatus.REFUSED) {
      const reason = ackReasonName(ack.reason);
      await outbox.update(id, { state: 'failed', reason, attempts });
      events.enqueue({ type: 'p2p.message.rejected', subject: peerId, data: { peer: peerId, message_id: id, reason, side: 'remote' } });
      return 0;
    }
    await outbox.update(id, { reason: ackReasonName(ack.reason), attempts });
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
      this.pump(peerId);
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
      this.pump(peer);
    }
  }

  /** Rebuilds the peer's waiting line from the outbox, so messages offered again keep their send order. */
  private requeue(peerId: string): void {
    if (!this.deps.network.isOnline(peerId)) return;
    const waiting = this.deps.outbox.pendingFor(peerId).filter((message) => !this.inFlight.has(message.messageId));
    this.waiting.set(peerId, waiting.map((message) => message.messageId));
  }

  private async expireDue(): Promise<void> {
    for (const message of await this.deps.outbox.expireDue()) {
      this.inFlight.delete(message.messageId);
      this.deps.events.enqueue({
        type: 'p2p.message.expired',
        subject: message.peerId,
        data: { peer: message.peerId, message_id: message.messageId },
      });
    }
  }

  /** Nothing can reach a revoked pairing (either side's revocation): its pending messages fail now, each with an event, instead of waiting out their TTL. */
  private async failAllFor(peerId: string, reason: typeof REVOKED_BY_PEER | typeof REVOKED): Promise<void> {
    this.waiting.delete(peerId);
    for (const message of await this.deps.outbox.failPending(peerId, reason)) {
      this.inFlight.delete(message.messageId);
      this.deps.events.enqueue({
        type: 'p2p.message.failed',
        subject: peerId,
        data: { message_id: message.messageId, peer: peerId, reason },
      });
    }
  }

  private stateOf(message: OutgoingMessage): ReportedState {
    return message.state === 'queued' && this.inFlight.has(message.messageId) ? 'sent' : message.state;
  }

  // Receiving

  /**
   * Every step is paid for before the next, more expensive one: the peer's
   * rate first (before parsing), the cheap checks before the signature, the
   * signature before the disk; a duplicate is answered before its signature
   * is checked, as the answer only repeats what is stored. Answers go out in
   * batches signed once (answer): the messages one fsync stored, at the next
   * turn of the event loop; refusals after a short wait. An envelope that
   * does not even parse gets no answer.
   */
  private async receiveEnvelope(peerId: string, body: Uint8Array): Promise<void> {
    const { identity, trust, inbox, config } = this.deps;
    const rate = this.takeRateToken(peerId);
    if (rate !== 'ok') {
      // The node's overall rate is its own state, not this peer's doing.
      this.refuse(peerId, peekMessageId(body), AckReason.RATE_LIMITED, AckStatus.DEFERRED, rate === 'peer' ? 'after_allowance' : 'free');
      return;
    }
    let envelope: SignedEnvelope;
    try {
      envelope = decodeEnvelope(body, config.maxPayloadBytes);
    } catch (error) {
      // A sender whose limit is larger than ours must learn; bytes that do not parse get no answer.
      if (error instanceof PayloadTooLarge) this.refuse(peerId, peekMessageId(body), AckReason.PAYLOAD_TOO_LARGE, AckStatus.REFUSED, 'charged');
      else this.refuse(peerId, null, AckReason.MALFORMED, AckStatus.REFUSED, 'charged');
      return;
    }
    const context = { me: identity.publicKey, sessionPeer: peerId, trust, inbox, now: Date.now(), clockSkewMs: config.clockSkewMs };
    const misaddressed = checkAddressing(envelope, context);
    if (misaddressed !== null) {
      this.refuse(peerId, envelope.messageId, misaddressed, AckStatus.REFUSED, 'charged');
      return;
    }
    const id = Buffer.from(envelope.messageId).toString('hex');
    if (inbox.hasMessage(peerId, id)) {
      this.answerDuplicate(peerId, envelope.messageId);
      return;
    }
    const refusal = checkContent(envelope, context);
    if (refusal !== null) {
      this.refuse(peerId, envelope.messageId, refusal, AckStatus.REFUSED, 'charged');
      return;
    }
    let stored: StoredMessage;
    try {
      stored = await inbox.add({
        messageId: id,
        peerId,
        type: envelope.type,
        correlationId: envelope.correlationId,
        content: envelope.payload,
        nonce: envelope.nonce,
        sentAt: new Date(envelope.timestamp),
      });
    } catch (error) {
      if (error instanceof P2pError && error.errorName === 'CONFLICT') {
        this.answerDuplicate(peerId, envelope.messageId);
      } else if (error instanceof P2pError && error.errorName === 'LIMIT_REACHED') {
        this.refuse(peerId, envelope.messageId, AckReason.INBOX_FULL, AckStatus.DEFERRED, 'after_allowance');
      } else {
        this.deps.logger.error(`cannot store a message from ${peerId}: ${(error as Error).message}`);
        this.refuse(peerId, envelope.messageId, AckReason.STORAGE_ERROR, AckStatus.DEFERRED, 'free');
      }
      return;
    }
    this.setbacks.delete(peerId);
    this.answer(peerId, { messageId: envelope.messageId, status: AckStatus.STORED, reason: AckReason.NONE }, 'soon');
    this.deps.events.enqueue({
      type: 'p2p.message.received',
      subject: peerId,
      data: { peer: peerId, message_id: id, type: stored.type, size: stored.content.length },
    });
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

  /** A message stored before, offered again: answered, and counted against the peer only past its allowance. */
  private answerDuplicate(peerId: string, messageId: Uint8Array): void {
    if (this.pastAllowance(peerId)) this.deps.network.refuse(peerId, 'message_duplicate_past_allowance');
    this.answer(peerId, { messageId, status: AckStatus.DUPLICATE, reason: AckReason.NONE }, 'batched');
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
   * Counted and tallied into one event per peer per interval, answered in
   * the next batch when there is an id to answer, and charged to the peer's
   * refusal budget (the network cuts off a peer past it) as `charge` says:
   * `charged`, input an honest peer never sends; `after_allowance`, what an
   * honest peer causes a window's worth of before it hears the answer (its
   * rate, its share of the inbox); `free`, this node's own state (its disk,
   * its overall rate), never the peer's doing.
   */
  private refuse(peerId: string, messageId: Uint8Array | null, reason: AckReason, status: AckStatus, charge: 'charged' | 'after_allowance' | 'free'): void {
    const name = ackReasonName(reason);
    const charged = charge === 'charged' || (charge === 'after_allowance' && this.pastAllowance(peerId));
    this.deps.network.refuse(peerId, `message_${name}`, charged);
    const id = messageId === null ? null : Buffer.from(messageId).toString('hex');
    this.deps.events.tally('p2p.message.rejected', peerId, name, { peer: peerId, message_id: id, reason: name, side: 'local' });
    if (messageId !== null) this.answer(peerId, { messageId, status, reason }, 'batched');
  }

  /**
   * Queues an answer for the peer's next ack batch, sent when full, or:
   * `soon`, at the next turn of the event loop, which gathers every message
   * one fsync stored under one signature without delaying any of them;
   * `batched`, after ackBatchDelayMs, so that a peer sending refused
   * envelopes gets few signatures whatever its rate.
   */
  private answer(peerId: string, ack: Ack, when: 'soon' | 'batched'): void {
    if (this.hellos.get(peerId)?.capabilities.includes(ACK_BATCH_CAPABILITY) !== true) {
      // A node from before ack batches (its hello does not name them) reads single acks only. Its refusals
      // cost a signature each, which the refusal budget bounds (docs/protocol.md §10).
      this.deps.network.sendTo(peerId, MSG_ACK, signAck(ack, this.deps.identity, publicKeyFromPeerId(peerId)));
      return;
    }
    let pending = this.pendingAcks.get(peerId);
    if (pending === undefined) {
      pending = [];
      this.pendingAcks.set(peerId, pending);
    }
    pending.push(ack);
    if (pending.length >= this.deps.config.ackBatchMaxEntries) {
      this.flushAcks(peerId);
    } else if (when === 'soon') {
      if (this.ackFlushSoon.has(peerId)) return;
      this.ackFlushSoon.add(peerId);
      setImmediate(() => {
        this.ackFlushSoon.delete(peerId);
        this.flushAcks(peerId);
      });
    } else if (!this.ackFlushTimers.has(peerId)) {
      // Not unref'd: it is short, and close() clears it.
      this.ackFlushTimers.set(peerId, setTimeout(() => this.flushAcks(peerId), this.deps.config.ackBatchDelayMs));
    }
  }

  private flushAcks(peerId: string): void {
    clearTimeout(this.ackFlushTimers.get(peerId));
    this.ackFlushTimers.delete(peerId);
    const acks = this.pendingAcks.get(peerId);
    this.pendingAcks.delete(peerId);
    if (acks === undefined || acks.length === 0) return;
    this.deps.network.sendTo(peerId, MSG_ACK_BATCH, signAckBatch(acks, this.deps.identity, publicKeyFromPeerId(peerId)));
  }

  private every(ms: number, task: () => void): void {
    const timer = setInterval(task, ms);
    timer.unref();
    this.timers.push(timer);
  }
}

function nullable<T>(value: T | null): T[] | null {
  return value === null ? null : [value];
}

function isFinal(state: OutgoingMessage['state']): boolean {
  return state === 'delivered' || state === 'expired' || state === 'failed';
}

/** Resolves once the inbox stores a message of this peer with a cursor above `after`, or after `waitMs`. */
function waitForStored(inbox: InboxStore, peer: string, after: number, waitMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, waitMs);
    function onStored(message: StoredMessage): void {
      if (message.peerId === peer && message.cursor > after) done();
    }
    function done(): void {
      clearTimeout(timer);
      inbox.off('stored', onStored);
      resolve();
    }
    inbox.on('stored', onStored);
  });
}
