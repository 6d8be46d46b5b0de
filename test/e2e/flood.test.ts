import { randomBytes } from 'node:crypto';
import t from 'tap';
import { peerIdFromPublicKey, publicKeyFromPeerId } from '../../extension/common/peer-id';
import { dial } from '../../extension/transport/dial';
import { DEFAULT_TRANSPORT_LIMITS } from '../../extension/transport/limits';
import { initiateChannel } from '../../extension/wire/channel-handshake';
import { DecisionResult } from '../../extension/wire/decision';
import { Intent } from '../../extension/wire/handshake-payload';
import { CloseCode } from '../../extension/wire/secure-channel';
import { MSG_RECEIPT } from '../../extension/wire/session-messages';
import { DEFAULT_MESSAGING_CONFIG } from '../../extension/config';
import { readReceipt, signedBatches } from '../helpers/batches';
import { flood, fromList, junkBatch, type FloodReport } from '../helpers/flooder';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';
import { pairedRawPeer, reconnectRawPeer, throwawayIdentity, type RawSessionPeer } from '../helpers/raw-peer';

/**
 * Below these rates the flood proves nothing, and the test fails: the node
 * must have been pushed at least this hard while the calls were answered.
 * Valid messages come one per batch, each checked (a signature) and
 * written (an fsync); junk batches are refused before any hash. The figures are several times below what a 2-core CI
 * machine reaches, so that a slow machine does not fail for being slow.
 */
const MIN_VALID_FLOOD_PER_SECOND = 400;
const MIN_JUNK_FLOOD_PER_SECOND = 2000;
const VALID_MESSAGES = 6000;

async function addressOf(node: TestNode): Promise<string> {
  return ((await node.call('status'))['listening'] as { addresses: string[] }).addresses[0] as string;
}

/** Calls `status` one after another until `done` settles; every call must be answered. Returns each call's time in ms. */
async function statusCallsDuring(node: TestNode, done: Promise<unknown>): Promise<number[]> {
  let finished = false;
  void done.then(() => (finished = true));
  const times: number[] = [];
  while (!finished) {
    const start = performance.now();
    await node.call('status');
    times.push(performance.now() - start);
  }
  return times;
}

function describe(times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (p: number) => (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0).toFixed(1);
  return `${times.length} status calls, p50 ${at(50)} ms, p99 ${at(99)} ms, max ${at(100)} ms`;
}

interface Answers {
  stored: number;
  /** Messages listed as not stored: refusals, deferrals. */
  others: number;
  /** Signatures the node spent on answers: one per receipt. */
  signatures: number;
  /** Resolves once `count` messages have been acknowledged as stored. */
  storedReaches(count: number): Promise<void>;
}

/** Reads and checks the node's receipts on the flooder's session, whose batches hold one message each. */
function countAnswers(peer: RawSessionPeer, nodeKey: Uint8Array): Answers {
  let waiter: { count: number; resolve: () => void } | null = null as { count: number; resolve: () => void } | null;
  const answers: Answers = {
    stored: 0,
    others: 0,
    signatures: 0,
    storedReaches: (count) => new Promise<void>((resolve) => (waiter = { count, resolve })),
  };
  void (async () => {
    for (;;) {
      const [type, body] = await peer.next();
      if (type !== MSG_RECEIPT) continue;
      const receipt = readReceipt(body, nodeKey, peer.identity.publicKey, peer.channel.sessionId);
      answers.signatures += 1;
      answers.stored += receipt.lastBatch - receipt.firstBatch + 1 - receipt.exceptions.length;
      answers.others += receipt.exceptions.length;
      if (waiter !== null && answers.stored >= waiter.count) waiter.resolve();
    }
  })();
  return answers;
}

async function strangerAsksToPair(address: string, nodeId: string): Promise<string> {
  const stranger = throwawayIdentity();
  const request = { intent: Intent.PAIR_REQUEST, requestId: new Uint8Array(randomBytes(16)), listenPort: 0, displayName: 'stranger during the flood' } as const;
  const outcome = await initiateChannel(await dial(address, DEFAULT_TRANSPORT_LIMITS), stranger, publicKeyFromPeerId(nodeId), request, address, {
    handshakeTimeoutMs: 10_000,
    maxMessagesPerKey: 1000,
    keepaliveIntervalMs: 60_000,
  });
  if (outcome.decision.result !== DecisionResult.REQUEST_STORED) throw new Error(`pairing request answered ${JSON.stringify(outcome.decision)}`);
  return peerIdFromPublicKey(stranger.publicKey);
}

t.test('a paired peer flooding as fast as it can: every call answered, no security event lost, the flooder cut off', async (t) => {
  // The inbox must not fill during the valid flood: a full inbox defers, and deferring is refusing.
  const bob = await startNode(t, { env: { P2P_COMM_INBOX_MAX_MESSAGES: '1000000' } });
  const alice = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  const bobKey = publicKeyFromPeerId(bId);
  const address = await addressOf(bob);
  const mallory = await pairedRawPeer(bob, address, bId, 'mallory');
  const answers = countAnswers(mallory, bobKey);

  // 1. Valid messages, one per batch, which the node must check and store one by one: the hardest flood that is not refused.
  const batches = signedBatches(mallory.identity, bobKey, VALID_MESSAGES);
  const start = performance.now();
  const allStored = answers.storedReaches(VALID_MESSAGES);
  const validFlood = flood(mallory, fromList(batches));
  const strangerId = strangerAsksToPair(address, bId);
  const sent = alice.call('send', { peer: bId, type: 'text', content: 'sent during the flood' });
  const validCalls = await statusCallsDuring(bob, allStored);
  const storedPerSecond = VALID_MESSAGES / ((performance.now() - start) / 1000);
  const valid: FloodReport = await validFlood;
  t.comment(`valid flood: ${valid.sent} batches offered at ${valid.perSecond.toFixed(0)}/s, stored at ${storedPerSecond.toFixed(0)}/s; ${describe(validCalls)}`);
  t.ok(storedPerSecond >= MIN_VALID_FLOOD_PER_SECOND, `the node took the valid flood at ${storedPerSecond.toFixed(0)}/s (at least ${MIN_VALID_FLOOD_PER_SECOND}/s)`);
  t.ok(validCalls.length >= 2, `status was answered during the flood (${validCalls.length} calls)`);
  t.equal(answers.others, 0, 'no refusal: nothing was deferred or refused');
  t.ok(answers.signatures < VALID_MESSAGES / 4, `the stored messages were receipted under ${answers.signatures} signatures, several batches per receipt`);
  const signaturesBefore = answers.signatures;

  // 2. Junk: batches refused before any hash, answered under one signature per delay, and past the refusal budget the session is closed.
  const junk = await Promise.all([flood(mallory, junkBatch), statusCallsDuring(bob, new Promise((resolve) => mallory.channel.once('close', resolve)))]);
  const [junkFlood, junkCalls] = junk;
  t.comment(`junk flood: ${junkFlood.sent} frames in ${junkFlood.ms.toFixed(0)} ms (${junkFlood.perSecond.toFixed(0)}/s); ${describe(junkCalls)}`);
  t.ok(junkFlood.closedByNode, 'the node closed the flooding session');
  t.ok(junkFlood.perSecond >= MIN_JUNK_FLOOD_PER_SECOND, `the junk flood reached ${junkFlood.perSecond.toFixed(0)}/s (at least ${MIN_JUNK_FLOOD_PER_SECOND}/s)`);
  const junkSignatures = answers.signatures - signaturesBefore;
  const allowed = Math.ceil(junkFlood.ms / DEFAULT_MESSAGING_CONFIG.ackBatchDelayMs) + 2;
  t.ok(junkSignatures <= allowed, `junk cost ${junkSignatures} signatures for ${junkFlood.sent} batches: one per receipt delay at most (${allowed})`);

  // The flooder is kept away: its next session is refused.
  await t.rejects(reconnectRawPeer(address, bId, mallory.identity), /session refused/, 'the flooder is kept away for a while');

  // Nothing else was lost: the stranger's request, alice's message, and exactly one notice of the flooder.
  const stranger = await strangerId;
  const delivered = await sent;
  await eventually(async () => ((await bob.call('receive', { peer: aId, wait_ms: 200 }))['messages'] as unknown[]).length === 1, "alice's message");
  await eventually(async () => (await alice.call('message_status', { message_id: delivered['message_id'] }))['state'] === 'delivered', 'its delivery');
  await eventually(async () => bob.events.some((e) => e.type === 'p2p.peer.request' && e.subject === stranger), "the stranger's pairing request event");
  const incoming = (await bob.call('requests'))['incoming'] as { peer: string }[];
  t.ok(incoming.some((request) => request.peer === stranger), 'the request is listed');
  const misbehaving = bob.events.filter((e) => e.type === 'p2p.peer.misbehaving');
  t.equal(misbehaving.length, 1, 'one event for the offence, not one per refused frame');
  t.match(misbehaving[0], { subject: mallory.peerId, data: { reason: 'too_many_refusals' } });
  const status = await bob.call('status');
  const network = (status['refusals'] as { network: Record<string, number> }).network;
  t.equal(network['session_closed_too_many_refusals'], 1);
  t.ok((network['message_wrong_recipient'] ?? 0) >= 2048, 'the junk was counted');
  t.ok((network['session_kept_away'] ?? 0) >= 1, 'the refused reconnection was counted');
  t.equal(CloseCode.MISBEHAVING, 4007);
});

t.test('an honest sender faster than the agent reads is slowed down, never cut off', async (t) => {
  // Scaled down so the test is quick: a window of 32, an inbox of 8, a refusal budget of 64 at 2/s.
  const env = { P2P_COMM_MAX_IN_FLIGHT: '32', P2P_COMM_INBOX_MAX_MESSAGES: '8', P2P_COMM_REFUSAL_BURST: '64', P2P_COMM_REFUSALS_PER_SECOND: '2' };
  const bob = await startNode(t, { env });
  const alice = await startNode(t, { env });
  const { aId, bId } = await pairNodes(alice, bob);
  const total = 300;
  for (let n = 0; n < total; n += 1) await alice.call('send', { peer: bId, type: 'text', content: `message ${n}` });
  // Bob's agent reads eight at a time, far slower than alice offers them.
  const received: string[] = [];
  await eventually(
    async () => {
      const messages = (await bob.call('receive', { peer: aId, limit: 8, wait_ms: 200 }))['messages'] as { content: string; cursor: number }[];
      const last = messages.at(-1);
      if (last !== undefined) {
        received.push(...messages.map((message) => message.content));
        await bob.call('ack', { peer: aId, through: last.cursor });
      }
      return received.length >= total;
    },
    'every message to reach the agent',
    120_000,
  );
  // Deferred messages are offered again after ones that found room, so the order can change; none is lost or doubled.
  t.same([...received].sort(), Array.from({ length: total }, (_, n) => `message ${n}`).sort(), 'all of them, each once');
  t.notOk(bob.events.some((event) => event.type === 'p2p.peer.misbehaving'), 'alice was never taken for a flooder');
  const network = ((await bob.call('status'))['refusals'] as { network: Record<string, number> }).network;
  t.equal(network['session_closed_too_many_refusals'] ?? 0, 0);
  t.ok((network['message_inbox_full'] ?? 0) > 0, 'the inbox did fill: alice was deferred');
});
