import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { A2aService, DEFAULT_A2A_BINDING_CONFIG } from '../../extension/a2a/a2a-service';
import { ExchangeStore } from '../../extension/a2a/exchange-store';
import { A2A_BINDING_CAPABILITY, A2A_BINDING_ERRORS } from '../../extension/common/a2a-binding';
import { P2pError } from '../../extension/common/errors';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import type { EventOutbox, OutgoingEvent } from '../../extension/events/outbox';
import type { Messenger, SendRequest } from '../../extension/messaging/messenger';
import { encodeContent } from '../../extension/messaging/payload';
import { InboxStore } from '../../extension/store/inbox';
import type { TrustStore } from '../../extension/trust/trust-store';
import type { A2aRequestPayload, A2aResponsePayload } from '../../extension/wire/a2a-payload';
import { tempDir } from '../helpers/extension';
import { quietLogger } from '../helpers/messenger';

const START = Date.parse('2026-11-30T10:00:00.000Z');
const MAX_PAYLOAD = 1024 * 1024;

const newPeer = (): string => peerIdFromPublicKey(new Uint8Array(randomBytes(32)));
const newId = (): string => randomBytes(16).toString('hex');

/**
 * A messenger as the service uses it: sends are recorded and get fresh ids;
 * a test may hold the next send open, to let an answer overtake the
 * recording of its request, and may set what the outbox reports.
 */
class FakeMessenger {
  readonly sent: SendRequest[] = [];
  capabilities: string[] | null = [A2A_BINDING_CAPABILITY];
  readonly states = new Map<string, string>();
  private hold: { reached: () => void; release: Promise<void> } | null = null;

  /** The next send stays open, after taking its id, until the returned release is called; `reached` resolves once it is there. */
  holdNextSend(): { reached: Promise<string>; release: () => void } {
    let reached!: (id: string) => void;
    let release!: () => void;
    const reachedPromise = new Promise<string>((resolve) => (reached = resolve));
    const releasePromise = new Promise<void>((resolve) => (release = resolve));
    this.hold = { reached: () => reached(this.lastId), release: releasePromise };
    return { reached: reachedPromise, release };
  }

  private lastId = '';

  helloOf(): { capabilities: string[] } | undefined {
    return this.capabilities === null ? undefined : { capabilities: this.capabilities };
  }

  async send(request: SendRequest): Promise<{ messageId: string; state: string; size: number }> {
    this.sent.push(request);
    this.lastId = newId();
    const messageId = this.lastId;
    const hold = this.hold;
    this.hold = null;
    if (hold !== null) {
      hold.reached();
      await hold.release;
    }
    return { messageId, state: 'queued', size: 1 };
  }

  status(messageId: string): { reportedState: string } {
    const state = this.states.get(messageId);
    if (state === undefined) throw new P2pError('NOT_FOUND', `no message ${messageId}`);
    return { reportedState: state };
  }
}

function setUp(t: Test, options: { servesAgent?: boolean; maxOpenPerPeer?: number } = {}) {
  const dir = tempDir(t);
  const clock = { ms: START };
  const trusted = new Set<string>();
  const refusals: { peer: string; reason: string; charged: boolean }[] = [];
  const events: OutgoingEvent[] = [];
  const messenger = new FakeMessenger();
  const inbox = InboxStore.open(dir, {}, () => clock.ms);
  const exchanges = ExchangeStore.open(dir, { maxOpenPerPeer: options.maxOpenPerPeer ?? 256 }, () => clock.ms);
  const trust = { isTrusted: (peer: string) => trusted.has(peer), list: () => [...trusted].map((peerId) => ({ peerId })) };
  const service = new A2aService({
    peerId: newPeer(),
    messenger: messenger as unknown as Messenger,
    inbox,
    exchanges,
    trust: trust as unknown as TrustStore,
    events: { enqueue: (event: OutgoingEvent) => events.push(event) } as unknown as EventOutbox,
    refuse: (peer, reason, charged) => refusals.push({ peer, reason, charged }),
    logger: quietLogger,
    servesAgent: () => options.servesAgent ?? true,
    config: DEFAULT_A2A_BINDING_CONFIG,
    now: () => clock.ms,
  });
  t.teardown(async () => {
    await service.close();
    await inbox.close();
  });
  const peer = newPeer();
  trusted.add(peer);

  /** Stores a message from the peer as the network would; returns its envelope id. */
  async function store(type: 'a2a_request' | 'a2a_response', content: A2aRequestPayload | A2aResponsePayload, correlationId: string | null): Promise<string> {
    const stored = await inbox.add({
      messageId: newId(),
      peerId: peer,
      type,
      correlationId,
      content: encodeContent(type, content, MAX_PAYLOAD),
      digest: new Uint8Array(randomBytes(16)),
      proof: new Uint8Array(randomBytes(64)),
      sentAt: new Date(clock.ms),
    });
    return stored.messageId;
  }

  /** Resolves once the service has taken every A2A message of the peer from the inbox. */
  async function taken(): Promise<void> {
    while (inbox.hasMessagesAfter(peer, 0, 'a2a')) await service.waitForChange(60_000);
  }

  async function arrive(type: 'a2a_request' | 'a2a_response', content: A2aRequestPayload | A2aResponsePayload, correlationId: string | null): Promise<string> {
    const messageId = await store(type, content, correlationId);
    await taken();
    return messageId;
  }

  return { service, messenger, inbox, exchanges, trusted, refusals, events, clock, peer, store, taken, arrive };
}

function sendMessage(messageId: string, text: string, contextId?: string): Record<string, unknown> {
  return { message: { messageId, role: 'ROLE_USER', parts: [{ text }], ...(contextId === undefined ? {} : { contextId }) } };
}

function request(method: A2aRequestPayload['method'], params: Record<string, unknown>, expiresAt = START + 60_000): A2aRequestPayload {
  return { method, params, service: {}, expiresAt };
}

t.test('a message sent again with the same messageId and params re-attaches; other params make a second request', async (t) => {
  const { service, messenger, peer } = setUp(t);
  service.start();
  const first = await service.send(peer, 'SendMessage', sendMessage('m-1', 'lunch?'), {}, null);
  t.equal(first.reattached, false);
  t.equal(messenger.sent.length, 1);
  t.equal(messenger.sent[0]?.type, 'a2a_request');
  t.equal(messenger.sent[0]?.ttlSeconds, DEFAULT_A2A_BINDING_CONFIG.requestTtlSeconds, 'a message that changes something lives a day');
  const again = await service.send(peer, 'SendMessage', { message: { parts: [{ text: 'lunch?' }], role: 'ROLE_USER', messageId: 'm-1' } }, {}, null);
  t.equal(again.reattached, true, 'the same params in another member order are the same message');
  t.equal(again.exchange.requestId, first.exchange.requestId);
  t.equal(messenger.sent.length, 1, 'nothing was sent again');
  const other = await service.send(peer, 'SendMessage', sendMessage('m-1', 'dinner?'), {}, null);
  t.equal(other.reattached, false, 'a colliding client messageId with other params is another request');
  t.not(other.exchange.requestId, first.exchange.requestId);
  t.equal(messenger.sent.length, 2);
  await service.send(peer, 'GetTask', { id: 't-1' }, {}, null);
  t.equal(messenger.sent[2]?.ttlSeconds, DEFAULT_A2A_BINDING_CONFIG.readTtlSeconds, 'a read lives minutes');
});

t.test('a peer without the binding, and a peer with too many open requests, are refused before anything is sent', async (t) => {
  const { service, messenger, peer } = setUp(t, { maxOpenPerPeer: 2 });
  messenger.capabilities = ['a2a'];
  await t.rejects(service.send(peer, 'SendMessage', sendMessage('m-1', 'hi'), {}, null), { errorName: 'NOT_AVAILABLE', message: /without the A2A binding/ });
  t.equal(messenger.sent.length, 0);
  messenger.capabilities = null;
  await service.send(peer, 'SendMessage', sendMessage('m-1', 'hi'), {}, null);
  await service.send(peer, 'SendMessage', sendMessage('m-2', 'hi'), {}, null);
  await t.rejects(service.send(peer, 'SendMessage', sendMessage('m-3', 'hi'), {}, null), { errorName: 'LIMIT_REACHED', message: /2 A2A requests/ });
  t.equal(messenger.sent.length, 2, 'a peer not connected yet (no hello) is sent to: the request waits in the outbox');
});

t.test('an answer that arrives before its request is recorded is kept, not dropped', async (t) => {
  const { service, messenger, peer, store, taken, refusals, events, exchanges } = setUp(t);
  service.start();
  const held = messenger.holdNextSend();
  const sending = service.send(peer, 'SendMessage', sendMessage('m-1', 'quick'), {}, null);
  const requestId = await held.reached;
  await store('a2a_response', { seq: 0, kind: 'result', result: { message: { messageId: 'r-1', role: 'ROLE_AGENT', parts: [{ text: 'done' }] } } }, requestId);
  t.equal(exchanges.get('calling', peer, requestId), undefined, 'the answer is stored before its request is recorded');
  held.release();
  const { exchange } = await sending;
  await taken();
  t.same(refusals, [], 'nothing refused as an answer to no request');
  t.equal(exchanges.get('calling', peer, exchange.requestId)?.answers.size, 1);
  t.match(events, [{ type: 'p2p.a2a.answer', data: { peer, request_id: requestId, seq: 0, end: true } }]);
  t.equal(service.requestState(exchange), 'answered');
});

t.test('answers are recorded in the calling exchange; one to no request is a charged refusal', async (t) => {
  const { service, peer, arrive, refusals, events } = setUp(t);
  service.start();
  const { exchange } = await service.send(peer, 'SendStreamingMessage', sendMessage('m-1', 'stream'), {}, null);
  await arrive('a2a_response', { seq: 0, kind: 'event', event: { task: { id: 't-1', contextId: 'c-1', status: { state: 'TASK_STATE_SUBMITTED' } } } }, exchange.requestId);
  t.equal(service.requestState(exchange), 'answering');
  t.equal(service.callingByTask(peer, 't-1')?.requestId, exchange.requestId, 'the task id finds its exchange');
  await arrive('a2a_response', { seq: 1, kind: 'end' }, exchange.requestId);
  t.equal(service.requestState(exchange), 'answered');
  t.equal(events.length, 2);
  await arrive('a2a_response', { seq: 0, kind: 'end' }, newId());
  t.same(refusals, [{ peer, reason: 'a2a_unknown_request', charged: true }]);
});

t.test('a request is kept for the agent only when this node serves one and it has not expired; the others are answered at once', async (t) => {
  for (const [name, servesAgent, expiresAt, reason] of [
    ['no agent card', false, START + 60_000, 'NO_A2A_AGENT'],
    ['expired', true, START - 1, 'REQUEST_EXPIRED'],
  ] as const) {
    await t.test(name, async (t) => {
      const { service, messenger, peer, arrive, refusals, events, exchanges } = setUp(t, { servesAgent });
      service.start();
      const requestId = await arrive('a2a_request', request('SendMessage', sendMessage('m-1', 'hi'), expiresAt), null);
      t.equal(exchanges.list('serving', peer).length, 0, 'kept nowhere');
      t.same(refusals, [{ peer, reason: `a2a_${reason.toLowerCase()}`, charged: false }], 'counted, not charged: honest peers cause it');
      t.same(events, []);
      t.equal(messenger.sent.length, 1);
      t.equal(messenger.sent[0]?.type, 'a2a_response');
      t.equal(messenger.sent[0]?.correlationId, requestId);
      t.match(messenger.sent[0]?.content, { seq: 0, kind: 'error', error: { code: A2A_BINDING_ERRORS[reason].code } });
    });
  }
});

t.test('a request is served once: its answers are final, a repeat changes nothing, another answer at a seq is a conflict', async (t) => {
  const { service, messenger, peer, arrive, events, exchanges } = setUp(t);
  service.start();
  const requestId = await arrive('a2a_request', request('SendMessage', sendMessage('m-1', 'hi')), null);
  t.match(events, [{ type: 'p2p.a2a.request', data: { peer, request_id: requestId, method: 'SendMessage' } }]);
  t.same(service.servingAfter(peer, 0).map((exchange) => exchange.requestId), [requestId]);
  const sameAgain = await arrive('a2a_request', request('SendMessage', sendMessage('m-1', 'hi')), null);
  t.not(sameAgain, requestId);
  t.equal(service.servingAfter(peer, 0).length, 2, 'two envelopes carrying one client messageId are two requests');
  const answer: A2aResponsePayload = { seq: 0, kind: 'result', result: { task: { id: 't-1', contextId: 'c-1', status: { state: 'TASK_STATE_COMPLETED' } } } };
  t.equal(await service.respond(peer, requestId, answer), 'added');
  t.equal(exchanges.get('serving', peer, requestId)?.claimed, true, 'answering claims');
  t.equal(await service.respond(peer, requestId, answer), 'repeat');
  t.equal(messenger.sent.length, 1, 'a repeat is not sent again');
  t.equal(messenger.sent[0]?.correlationId, requestId);
  await t.rejects(service.respond(peer, requestId, { seq: 0, kind: 'error', error: { code: -32603, message: 'changed my mind' } }), { errorName: 'CONFLICT', message: /another answer at seq 0/ });
  await t.rejects(service.respond(peer, requestId, { seq: 1, kind: 'end' }), { errorName: 'CONFLICT', message: /end before this seq/ });
  await t.rejects(service.respond(peer, newId(), answer), { errorName: 'NOT_FOUND', message: /see a2a_serve/ });
  t.same(service.servingAfter(peer, 0).map((exchange) => exchange.requestId), [sameAgain], 'an ended request is no longer served');
});

t.test('a revoked peer: its waiting requests are not served and its open calls fail as revoked', async (t) => {
  const { service, peer, arrive, trusted, exchanges } = setUp(t);
  service.start();
  await arrive('a2a_request', request('SendMessage', sendMessage('m-1', 'hi')), null);
  const { exchange } = await service.send(peer, 'GetTask', { id: 't-1' }, {}, null);
  trusted.delete(peer);
  t.same(service.servingAfter(peer, 0), []);
  await service.settle(exchange);
  t.equal(exchanges.get('calling', peer, exchange.requestId)?.failure, 'revoked');
  t.equal(service.requestState(exchange), 'failed');
});

t.test('a calling exchange fails once the outbox gave its request up, and only then', async (t) => {
  const { service, messenger, peer, exchanges } = setUp(t);
  const refused = (await service.send(peer, 'SendMessage', sendMessage('m-1', 'hi'), {}, null)).exchange;
  const expired = (await service.send(peer, 'SendMessage', sendMessage('m-2', 'hi'), {}, null)).exchange;
  const waiting = (await service.send(peer, 'SendMessage', sendMessage('m-3', 'hi'), {}, null)).exchange;
  messenger.states.set(refused.requestId, 'failed');
  messenger.states.set(expired.requestId, 'expired');
  messenger.states.set(waiting.requestId, 'queued');
  t.equal(service.requestState(waiting), 'queued');
  for (const exchange of [refused, expired, waiting]) await service.settle(exchange);
  t.equal(exchanges.get('calling', peer, refused.requestId)?.failure, 'refused_by_peer');
  t.equal(exchanges.get('calling', peer, expired.requestId)?.failure, 'expired');
  t.equal(exchanges.get('calling', peer, waiting.requestId)?.failure, null);
  messenger.states.delete(waiting.requestId);
  t.equal(service.requestState(waiting), 'delivered', 'gone from the outbox after delivery');
});

t.test('a request its agent did not claim before it expired is answered REQUEST_EXPIRED; a claimed one is left to the agent', async (t) => {
  const { service, messenger, peer, arrive, clock } = setUp(t);
  service.start();
  const unclaimed = await arrive('a2a_request', request('SendMessage', sendMessage('m-1', 'hi'), START + 1_000), null);
  const claimed = await arrive('a2a_request', request('SendMessage', sendMessage('m-2', 'hi'), START + 1_000), null);
  await service.claim(peer, claimed);
  clock.ms = START + 2_000;
  await service.expireUnclaimed(peer);
  t.equal(messenger.sent.length, 1);
  t.equal(messenger.sent[0]?.correlationId, unclaimed);
  t.match(messenger.sent[0]?.content, { seq: 0, kind: 'error', error: { code: A2A_BINDING_ERRORS.REQUEST_EXPIRED.code } });
  t.same(service.servingAfter(peer, 0).map((exchange) => exchange.requestId), [claimed]);
});

t.test('what arrived while the node was down is recorded at start, once', async (t) => {
  const { service, peer, store, taken, exchanges, events } = setUp(t);
  const requestId = await store('a2a_request', request('GetTask', { id: 't-9' }), null);
  t.equal(exchanges.list('serving', peer).length, 0, 'not taken before start');
  service.start();
  await taken();
  t.same(exchanges.list('serving', peer).map((exchange) => exchange.requestId), [requestId]);
  t.equal(events.length, 1);
});
