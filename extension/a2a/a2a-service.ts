import { createHash } from 'node:crypto';
import { A2A_BINDING_CAPABILITY, A2aBindingError, bindingError } from '../common/a2a-binding';
import { P2pError } from '../common/errors';
import type { EventOutbox } from '../events/outbox';
import type { Logger } from '../log';
import type { Messenger } from '../messaging/messenger';
import { decodeContent } from '../messaging/payload';
import type { InboxStore, StoredMessage } from '../store/inbox';
import type { TrustStore } from '../trust/trust-store';
import { type A2aAnswer, type A2aMethod, type A2aRequestPayload, type A2aResponsePayload, clientMessageIdOf, endsAnswers } from '../wire/a2a-payload';
import { canonicalJson, JcsError } from '../wire/jcs';
import { type Exchange, type ExchangeStore, type FailureReason, isEnded } from './exchange-store';
import { ChannelDrain } from '../store/channel-drain';

/**
 * The A2A binding at this node (docs/a2a.md "Binding"): sends requests to
 * peers and records their answers (calling), takes peers' requests for the
 * local agent to pull and records its answers (serving). Requests and
 * answers travel as durable messages of types a2a_request and
 * a2a_response; this service reads them from the inbox's `a2a` channel,
 * records them in the exchange store and only then acks them, so a crash
 * in between hands them over again (recording is idempotent).
 */
export interface A2aBindingConfig {
  /** Time to live of a request that changes something (SendMessage, CancelTask), unless the caller sets one. */
  requestTtlSeconds: number;
  /** Time to live of a read (GetTask, ListTasks, SubscribeToTask): an old read is worth nothing. */
  readTtlSeconds: number;
  /** Messages read from the inbox at a time. */
  inboxBatch: number;
}

export const DEFAULT_A2A_BINDING_CONFIG: A2aBindingConfig = {
  requestTtlSeconds: 24 * 60 * 60,
  readTtlSeconds: 5 * 60,
  inboxBatch: 64,
};

export interface A2aServiceDeps {
  /** This node's peer id, named in the errors it answers with. */
  peerId: string;
  messenger: Messenger;
  inbox: InboxStore;
  exchanges: ExchangeStore;
  trust: TrustStore;
  events: EventOutbox;
  /**
   * Counts a refusal of a peer's input in `status` (as network refusals)
   * and, when charged, takes it from the peer's refusal budget: the
   * network's refuse.
   */
  refuse: (peerId: string, reason: string, charged: boolean) => void;
  logger: Logger;
  /** Whether this node serves an A2A agent (has set an agent card): without one, requests are answered NO_A2A_AGENT at once. */
  servesAgent: () => boolean;
  config: A2aBindingConfig;
  now?: () => number;
}

export interface SendOutcome {
  exchange: Exchange;
  /** The same message was sent before: this is its exchange, nothing was sent again. */
  reattached: boolean;
}

const READS: readonly A2aMethod[] = ['GetTask', 'ListTasks', 'SubscribeToTask'];

export class A2aService {
  private readonly drain = new ChannelDrain(
    (peerId) => this.drainAll(peerId),
    (peerId, error) => this.deps.logger.error(`A2A messages from ${peerId} could not be recorded: ${error.message}; they stay in the inbox and are taken at the next start`),
  );
  private readonly waiters = new Set<() => void>();
  /**
   * Per peer, the requests handed to the messenger whose calling exchange is
   * not recorded yet: the answer can arrive in between, and is then taken
   * only once they are, not dropped as an answer to no request.
   */
  private readonly opening = new Map<string, Set<Promise<unknown>>>();
  private readonly now: () => number;
  private readonly onStored = (message: StoredMessage): void => {
    if (message.type === 'a2a_request' || message.type === 'a2a_response') this.drain.schedule(message.peerId);
  };

  constructor(private readonly deps: A2aServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Reads what arrived while the node was down, then follows the inbox. */
  start(): void {
    this.deps.inbox.on('stored', this.onStored);
    for (const peer of this.deps.trust.list()) if (this.deps.inbox.hasMessagesAfter(peer.peerId, 0, 'a2a')) this.drain.schedule(peer.peerId);
  }

  async close(): Promise<void> {
    this.deps.inbox.off('stored', this.onStored);
    for (const wake of this.waiters) wake();
    await this.drain.close();
    await this.deps.exchanges.close();
  }

  /** Sends one A2A request to a peer, or re-attaches to the same message sent before. */
  async send(peerId: string, method: A2aMethod, params: Record<string, unknown>, service: A2aRequestPayload['service'], ttlSeconds: number | null): Promise<SendOutcome> {
    const { messenger, exchanges } = this.deps;
    const paramsDigest = digestOf(params);
    const messageId = clientMessageIdOf({ method, params, service, expiresAt: 0 });
    if (messageId !== null) {
      const earlier = exchanges.findResend(peerId, method, messageId, paramsDigest);
      if (earlier !== undefined) return { exchange: earlier, reattached: true };
    }
    const hello = messenger.helloOf(peerId);
    if (hello !== undefined && !hello.capabilities.includes(A2A_BINDING_CAPABILITY)) {
      throw new P2pError('NOT_AVAILABLE', `${peerId} runs a p2p-comm without the A2A binding (its hello lacks ${A2A_BINDING_CAPABILITY}); it cannot take A2A requests until it is updated`);
    }
    if (exchanges.openCount('calling', peerId) >= exchanges.maxOpenPerPeer) {
      throw new P2pError('LIMIT_REACHED', `${exchanges.maxOpenPerPeer} A2A requests to ${peerId} are still open, the most kept per peer; wait for their answers (a2a_task) or for them to expire`);
    }
    const ttl = ttlSeconds ?? (READS.includes(method) ? this.deps.config.readTtlSeconds : this.deps.config.requestTtlSeconds);
    const request: A2aRequestPayload = { method, params, service, expiresAt: this.now() + ttl * 1000 };
    const opened = this.whileOpening(peerId, async () => {
      const sent = await messenger.send({ peer: peerId, type: 'a2a_request', content: request, correlationId: null, ttlSeconds: ttl });
      return exchanges.open('calling', peerId, sent.messageId, request, paramsDigest);
    });
    return { exchange: await opened, reattached: false };
  }

  /** Runs `open` (send a request, then record its exchange) listed in `opening` until it settles. */
  private whileOpening<T>(peerId: string, open: () => Promise<T>): Promise<T> {
    const pending = this.opening.get(peerId) ?? new Set<Promise<unknown>>();
    this.opening.set(peerId, pending);
    const opened = open();
    pending.add(opened);
    const done = (): void => {
      pending.delete(opened);
      if (pending.size === 0 && this.opening.get(peerId) === pending) this.opening.delete(peerId);
    };
    opened.then(done, done);
    return opened;
  }

  /**
   * Records why a calling exchange will get no answer, once that is known:
   * the outbox gave its request up (refused by the peer, or expired), or
   * the pairing is gone. Until then the exchange waits for answers.
   */
  async settle(exchange: Exchange): Promise<void> {
    if (isEnded(exchange)) return;
    let reason: FailureReason | null = null;
    if (!this.deps.trust.isTrusted(exchange.peerId)) reason = 'revoked';
    else if (exchange.answers.size === 0) {
      const state = this.outgoingState(exchange.requestId);
      if (state === 'failed') reason = 'refused_by_peer';
      if (state === 'expired') reason = 'expired';
    }
    if (reason !== null) await this.deps.exchanges.fail(exchange.peerId, exchange.requestId, reason);
  }

  /**
   * Answers REQUEST_EXPIRED for the requests of a peer that expired before
   * the agent claimed them: a caller that gave up must not find its
   * request served later.
   */
  async expireUnclaimed(peerId: string): Promise<void> {
    if (!this.deps.trust.isTrusted(peerId)) return;
    for (const exchange of this.deps.exchanges.list('serving', peerId)) {
      if (exchange.claimed || exchange.answers.size > 0 || exchange.request.expiresAt >= this.now()) continue;
      await this.respond(peerId, exchange.requestId, { seq: 0, kind: 'error', error: bindingError('REQUEST_EXPIRED', { request_id: exchange.requestId, peer: this.deps.peerId }) });
    }
  }

  /**
   * The delivery state of a calling exchange's request, from the outbox:
   * what tells "not delivered yet" from "delivered, the peer is working".
   */
  requestState(exchange: Exchange): string {
    if (exchange.failure !== null) return 'failed';
    if (isEnded(exchange)) return 'answered';
    if (exchange.answers.size > 0) return 'answering';
    // Gone from the outbox: delivered long enough ago that its retention ended.
    return this.outgoingState(exchange.requestId) ?? 'delivered';
  }

  private outgoingState(messageId: string): string | null {
    try {
      return this.deps.messenger.status(messageId).reportedState;
    } catch (error) {
      if (error instanceof P2pError && error.errorName === 'NOT_FOUND') return null;
      throw error;
    }
  }

  /** Records the serving agent's answer and sends it; a repeat is a no-op, another answer under a recorded seq a conflict. */
  async respond(peerId: string, requestId: string, response: A2aResponsePayload): Promise<'added' | 'repeat'> {
    const exchange = this.servingExchange(peerId, requestId);
    const { seq, ...rest } = response;
    const answer = rest as A2aAnswer;
    const { exchanges } = this.deps;
    const verdict = exchanges.verdictOn('serving', peerId, requestId, seq, answer);
    if (verdict === 'repeat') return 'repeat';
    if (verdict !== 'added') {
      throw new P2pError('CONFLICT', `request ${requestId} from ${peerId} already has ${verdict === 'after_end' ? 'an end before this seq' : `another answer at seq ${seq} or after its end`}; answers are final once given`);
    }
    // Sent (into the durable outbox) before it is recorded: after a crash in between the agent gives it again and it
    // is sent again, which the caller takes as a repeat. Recorded first, it could be lost for good.
    await this.deps.messenger.send({ peer: peerId, type: 'a2a_response', content: response, correlationId: requestId, ttlSeconds: null });
    await exchanges.addAnswer('serving', peerId, requestId, seq, answer);
    if (!exchange.claimed) await exchanges.claim(peerId, requestId);
    return 'added';
  }

  calling(peerId: string, requestId: string): Exchange | undefined {
    return this.deps.exchanges.get('calling', peerId, requestId);
  }

  callingByTask(peerId: string, taskId: string): Exchange | undefined {
    return this.deps.exchanges.findByTask('calling', peerId, taskId);
  }

  /** The requests of a peer its agent has not finished answering, after a cursor, in the order they came. */
  servingAfter(peerId: string, after: number): Exchange[] {
    // A revoked pairing takes the peer's waiting requests with it: no answer could reach it.
    if (!this.deps.trust.isTrusted(peerId)) return [];
    return this.deps.exchanges.list('serving', peerId).filter((exchange) => exchange.cursor > after && !isEnded(exchange));
  }

  async claim(peerId: string, requestId: string): Promise<void> {
    this.servingExchange(peerId, requestId);
    await this.deps.exchanges.claim(peerId, requestId);
  }

  /** Resolves when something is recorded, or after waitMs, whichever is first. */
  waitForChange(waitMs: number): Promise<void> {
    if (waitMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, waitMs);
      this.waiters.add(wake);
    });
  }

  private servingExchange(peerId: string, requestId: string): Exchange {
    const exchange = this.deps.exchanges.get('serving', peerId, requestId);
    if (exchange === undefined) throw new P2pError('NOT_FOUND', `no A2A request ${requestId} from ${peerId} is kept here; see a2a_serve`);
    return exchange;
  }

  private async drainAll(peerId: string): Promise<void> {
    const { inbox, config } = this.deps;
    for (let batch = await inbox.read(peerId, 0, config.inboxBatch, 'a2a'); batch.length > 0; batch = await inbox.read(peerId, 0, config.inboxBatch, 'a2a')) {
      for (const message of batch) {
        await this.take(message);
        await inbox.ack(peerId, message.cursor, 'a2a');
      }
      this.wake();
    }
  }

  private async take(message: StoredMessage): Promise<void> {
    const decoded = decodeContent(message.type, message.content);
    // Checked when it arrived: only a changed limit or file makes this happen.
    if (decoded === null) return this.drop(message.peerId, 'bad_payload', false);
    if (message.type === 'a2a_request') return this.takeRequest(message, decoded.value as A2aRequestPayload);
    return this.takeAnswer(message, decoded.value as A2aResponsePayload);
  }

  private async takeRequest(message: StoredMessage, request: A2aRequestPayload): Promise<void> {
    const { peerId, messageId: requestId } = message;
    const { exchanges, events } = this.deps;
    if (exchanges.get('serving', peerId, requestId) !== undefined) return;
    let refusal: A2aBindingError | null = null;
    if (exchanges.openCount('serving', peerId) >= exchanges.maxOpenPerPeer) refusal = 'TOO_MANY_REQUESTS';
    else if (!this.deps.servesAgent()) refusal = 'NO_A2A_AGENT';
    else if (request.expiresAt < this.now()) refusal = 'REQUEST_EXPIRED';
    if (refusal !== null) {
      // Answered at once, without an exchange: it is kept nowhere, so it costs this node nothing. Honest peers cause
      // these too, so they are counted, not charged.
      this.deps.refuse(peerId, `a2a_${refusal.toLowerCase()}`, false);
      const answer: A2aResponsePayload = { seq: 0, kind: 'error', error: bindingError(refusal, { request_id: requestId, peer: this.deps.peerId }) };
      await this.deps.messenger.send({ peer: peerId, type: 'a2a_response', content: answer, correlationId: requestId, ttlSeconds: null });
      return;
    }
    // No digest: only the calling side re-attaches, and a peer's params need not have a canonical form (1e400).
    await exchanges.open('serving', peerId, requestId, request, '');
    events.enqueue({ type: 'p2p.a2a.request', subject: peerId, data: { peer: peerId, request_id: requestId, method: request.method } });
  }

  private async takeAnswer(message: StoredMessage, response: A2aResponsePayload): Promise<void> {
    const { peerId, correlationId } = message;
    if (correlationId === null) return this.drop(peerId, 'unknown_request');
    const { seq, ...answer } = response;
    const pending = this.opening.get(peerId);
    if (pending !== undefined && this.deps.exchanges.get('calling', peerId, correlationId) === undefined) {
      // Its request may be one of these: sent, its exchange not yet recorded.
      await Promise.allSettled(pending);
    }
    const outcome = await this.deps.exchanges.addAnswer('calling', peerId, correlationId, seq, answer as A2aAnswer);
    if (outcome === 'repeat') return;
    if (outcome !== 'added') return this.drop(peerId, outcome);
    this.deps.events.enqueue({ type: 'p2p.a2a.answer', subject: peerId, data: { peer: peerId, request_id: correlationId, seq, end: endsAnswers(answer as A2aAnswer) } });
  }

  /** Counted; charged, like any refused input, when an honest peer never sends it. */
  private drop(peerId: string, reason: string, charged = true): void {
    this.deps.refuse(peerId, `a2a_${reason}`, charged);
    this.deps.logger.debug(`an A2A message from ${peerId} was dropped: a2a_${reason}`);
  }

  private wake(): void {
    for (const wake of [...this.waiters]) wake();
  }
}

/** SHA-256 of the JCS of the params: the same request spelled in any JSON. */
function digestOf(params: Record<string, unknown>): string {
  let canonical: string;
  try {
    canonical = canonicalJson(params);
  } catch (error) {
    if (error instanceof JcsError) throw new P2pError('INVALID_INPUT', `params cannot travel: ${error.message}`);
    throw error;
  }
  return createHash('sha256').update(canonical).digest('hex');
}
