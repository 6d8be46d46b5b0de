import { randomBytes } from 'node:crypto';
import t from 'tap';
import { publicKeyFromPeerId } from '../../extension/common/peer-id';
import { AckReason, AckStatus, openAck, type Ack } from '../../extension/wire/ack';
import { openAckBatch } from '../../extension/wire/ack-batch';
import { encodeEnvelope, signEnvelope, type Envelope } from '../../extension/wire/envelope';
import { MSG_ACK, MSG_ACK_BATCH, MSG_ENVELOPE } from '../../extension/wire/session-messages';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';
import { pairedRawPeer, reconnectRawPeer, throwawayIdentity, type RawSessionPeer } from '../helpers/raw-peer';

async function addressOf(node: TestNode): Promise<string> {
  return ((await node.call('status'))['listening'] as { addresses: string[] }).addresses[0] as string;
}

function envelopeFrom(peer: RawSessionPeer, recipient: Uint8Array, change: Partial<Envelope> = {}): Envelope {
  return {
    messageId: randomBytes(16),
    sender: peer.identity.publicKey,
    recipient,
    timestamp: Date.now(),
    nonce: randomBytes(16),
    type: 'text',
    correlationId: null,
    payload: Buffer.from('hello'),
    ...change,
  };
}

/** The node's next signed answer: a single ack (stored) or one entry of a signed batch (anything else). */
async function nextAnswer(peer: RawSessionPeer, nodeKey: Uint8Array): Promise<Ack & { batched: boolean }> {
  for (;;) {
    const [type, body] = await peer.next();
    if (type !== MSG_ACK && type !== MSG_ACK_BATCH) continue;
    const acks = type === MSG_ACK ? [openAck(body, nodeKey, peer.identity.publicKey)] : openAckBatch(body, nodeKey, peer.identity.publicKey);
    if (acks === null || acks.length !== 1 || acks[0] === null || acks[0] === undefined) throw new Error('expected one validly signed answer');
    return { ...acks[0], batched: type === MSG_ACK_BATCH };
  }
}

/** Sends raw envelope bytes and returns the node's signed verdict on them. */
async function exchange(peer: RawSessionPeer, nodeKey: Uint8Array, bytes: Uint8Array): Promise<Ack & { batched: boolean }> {
  peer.channel.send(MSG_ENVELOPE, bytes);
  return nextAnswer(peer, nodeKey);
}

t.test('envelopes: every kind of bad one is refused and counted while the real peer keeps talking', async (t) => {
  const bob = await startNode(t);
  const alice = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  const bobKey = publicKeyFromPeerId(bId);
  const address = await addressOf(bob);
  let mallory = await pairedRawPeer(bob, address, bId, 'mallory');
  const sign = (envelope: Envelope) => encodeEnvelope(signEnvelope(envelope, (m) => mallory.identity.sign(m)));

  const good = envelopeFrom(mallory, bobKey);
  const goodBytes = sign(good);
  t.match(await exchange(mallory, bobKey, goodBytes), { status: AckStatus.STORED, batched: true }, 'stored, in a signed batch');
  t.match(await exchange(mallory, bobKey, sign({ ...good, nonce: randomBytes(16), timestamp: Date.now() })), { status: AckStatus.DUPLICATE, batched: true }, 'a retransmission is acknowledged, not stored twice');
  t.match(await exchange(mallory, bobKey, goodBytes), { status: AckStatus.DUPLICATE, batched: true }, 'a replay of a stored envelope is a duplicate: answered before any costly check, never stored twice');
  // The nonce of a stored message under a new id: a replay in all but the id.
  const nonceReuse = () => sign({ ...good, messageId: randomBytes(16), timestamp: Date.now() });
  t.match(await exchange(mallory, bobKey, nonceReuse()), { status: AckStatus.REFUSED, reason: AckReason.REPLAYED_NONCE, batched: true }, 'replayed nonce on the same connection');

  const cases: [string, Uint8Array, number][] = [
    ['tampered payload', flipped(sign(envelopeFrom(mallory, bobKey)), -66), AckReason.BAD_SIGNATURE],
    ['stale timestamp', sign(envelopeFrom(mallory, bobKey, { timestamp: Date.now() - 6 * 60_000 })), AckReason.STALE_TIMESTAMP],
    ['future timestamp', sign(envelopeFrom(mallory, bobKey, { timestamp: Date.now() + 6 * 60_000 })), AckReason.FUTURE_TIMESTAMP],
    ['another recipient', sign(envelopeFrom(mallory, throwawayIdentity().publicKey)), AckReason.WRONG_RECIPIENT],
    ['bad json', sign(envelopeFrom(mallory, bobKey, { type: 'json', payload: Buffer.from('{nope') })), AckReason.BAD_PAYLOAD],
    ['invalid UTF-8 text', sign(envelopeFrom(mallory, bobKey, { payload: Uint8Array.of(0xff, 0xfe) })), AckReason.BAD_PAYLOAD],
    ['oversize payload', sign(envelopeFrom(mallory, bobKey, { payload: Buffer.alloc(1024 * 1024 + 1, 0x61) })), AckReason.PAYLOAD_TOO_LARGE],
  ];
  for (const [name, bytes, reason] of cases) {
    t.match(await exchange(mallory, bobKey, bytes), { status: AckStatus.REFUSED, reason, batched: true }, name);
  }

  // Bytes that do not parse get no answer at all: the next answer is for the envelope after them.
  mallory.channel.send(MSG_ENVELOPE, Buffer.concat([Uint8Array.of(1), randomBytes(16), randomBytes(40)]));
  const afterGarbage = envelopeFrom(mallory, bobKey);
  t.same((await exchange(mallory, bobKey, sign(afterGarbage))).messageId, Uint8Array.from(afterGarbage.messageId), 'garbage was not answered');

  // Naming another key as the sender gets the same answer whether this node trusts that key or not.
  const stranger = throwawayIdentity();
  const asStranger = encodeEnvelope(signEnvelope({ ...envelopeFrom(mallory, bobKey), sender: stranger.publicKey }, (m) => stranger.sign(m)));
  const asAlice = encodeEnvelope(signEnvelope({ ...envelopeFrom(mallory, bobKey), sender: publicKeyFromPeerId(aId) }, (m) => mallory.identity.sign(m)));
  const strangerAnswer = await exchange(mallory, bobKey, asStranger);
  const aliceAnswer = await exchange(mallory, bobKey, asAlice);
  t.match(strangerAnswer, { status: AckStatus.REFUSED, reason: AckReason.SENDER_MISMATCH }, 'an unknown third key');
  t.match(aliceAnswer, { status: AckStatus.REFUSED, reason: AckReason.SENDER_MISMATCH }, 'a trusted third key: the same answer');

  // Replay after reconnecting, and after a restart of the receiver.
  mallory.channel.close();
  mallory = await reconnect(address, bId, mallory);
  t.match(await exchange(mallory, bobKey, nonceReuse()), { reason: AckReason.REPLAYED_NONCE }, 'replayed nonce after reconnect');

  // Meanwhile the real peer is served.
  const sent = await alice.call('send', { peer: bId, type: 'text', content: 'still here' });
  await eventually(async () => ((await bob.call('receive', { peer: aId, wait_ms: 200 }))['messages'] as unknown[]).length === 1, 'alice message');
  await eventually(async () => (await alice.call('message_status', { message_id: sent['message_id'] }))['state'] === 'delivered', 'delivery');

  const refusals = ((await bob.call('status'))['refusals'] as { network: Record<string, number> }).network;
  for (const name of ['replayed_nonce', 'bad_signature', 'stale_timestamp', 'future_timestamp', 'wrong_recipient', 'bad_payload', 'payload_too_large', 'malformed', 'sender_mismatch']) {
    t.ok((refusals[`message_${name}`] ?? 0) >= 1, `counted: ${name}`);
  }
  const received = (await bob.call('receive', { peer: mallory.peerId }))['messages'] as { content: string }[];
  t.same(received.map((m) => m.content), ['hello', 'hello'], 'exactly the two good messages from mallory were stored');
  const rejected = bob.events.filter((e) => e.type === 'p2p.message.rejected' && e.data['peer'] === mallory.peerId);
  t.ok(rejected.length >= 1 && rejected.length <= 2, `refusals are tallied into at most one event per interval, not one per envelope (got ${rejected.length})`);
  t.equal(rejected[0]?.data['side'], 'local');

  await bob.extension.shutdown();
  const bob2 = await startNode(t, { dataDir: bob.dataDir });
  const after = await reconnect(await addressOf(bob2), bId, mallory);
  t.match(await exchange(after, bobKey, nonceReuse()), { reason: AckReason.REPLAYED_NONCE }, 'replayed nonce after the receiver restarted');
  t.match(await exchange(after, bobKey, goodBytes), { status: AckStatus.DUPLICATE }, 'and the stored envelope itself is still a duplicate');
});

t.test("a paired peer reusing another peer's message id, after or before that peer's message, takes nothing from it", async (t) => {
  // One unacked message per peer: alice's second waits in her outbox while bob's inbox holds her first.
  const bob = await startNode(t, { env: { P2P_COMM_INBOX_MAX_MESSAGES: '1' } });
  const alice = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  const bobKey = publicKeyFromPeerId(bId);
  const mallory = await pairedRawPeer(bob, await addressOf(bob), bId, 'mallory');
  const reusing = (messageId: string, content: string) =>
    encodeEnvelope(signEnvelope(envelopeFrom(mallory, bobKey, { messageId: Buffer.from(messageId, 'hex'), payload: Buffer.from(content) }), (m) => mallory.identity.sign(m)));
  const receive = async (peer: string, after = 0) => (await bob.call('receive', { peer, after, wait_ms: 200 })) as { messages: { content: string }[]; next_cursor: number };
  const stateOf = async (id: string) => alice.call('message_status', { message_id: id });

  const first = (await alice.call('send', { peer: bId, type: 'text', content: 'first' }))['message_id'] as string;
  await eventually(async () => (await stateOf(first))['state'] === 'delivered', 'first delivered');
  t.match(await exchange(mallory, bobKey, reusing(first, 'after alice')), { status: AckStatus.STORED }, "mallory's own message, not a duplicate of alice's");

  const second = (await alice.call('send', { peer: bId, type: 'text', content: 'second' }))['message_id'] as string;
  await eventually(async () => (await stateOf(second))['reason'] === 'inbox_full', 'second deferred');
  await bob.call('ack', { peer: mallory.peerId, through: (await receive(mallory.peerId)).next_cursor });
  t.match(await exchange(mallory, bobKey, reusing(second, 'before alice')), { status: AckStatus.STORED }, 'taken by mallory first');

  // Bob's agent acks alice's first: her second is offered again and stored as hers.
  const fromAlice = await receive(aId);
  t.same(fromAlice.messages.map((m) => m.content), ['first']);
  await bob.call('ack', { peer: aId, through: fromAlice.next_cursor });
  const rest = await eventually(async () => {
    const { messages } = await receive(aId, fromAlice.next_cursor);
    return messages.length > 0 ? messages : false;
  }, "alice's second message at bob");
  t.same(rest.map((m) => m.content), ['second']);
  await eventually(async () => (await stateOf(second))['state'] === 'delivered', 'second delivered');
  t.same((await receive(mallory.peerId)).messages.map((m) => m.content), ['before alice']);
});

/** A copy with one bit flipped at `offset` (negative: from the end). */
function flipped(bytes: Uint8Array, offset: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  const at = offset < 0 ? copy.length + offset : offset;
  copy[at] = (copy[at] as number) ^ 1;
  return copy;
}

function reconnect(address: string, nodeId: string, peer: RawSessionPeer): Promise<RawSessionPeer> {
  return reconnectRawPeer(address, nodeId, peer.identity);
}
