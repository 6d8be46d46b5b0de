import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { publicKeyFromPeerId } from '../../extension/common/peer-id';
import { AckReason, AckStatus } from '../../extension/wire/delivery-codes';
import type { MessageLeaf } from '../../extension/wire/message-leaf';
import { signReceipt } from '../../extension/wire/receipt';
import { CloseCode } from '../../extension/wire/secure-channel';
import { MSG_BATCH, MSG_RECEIPT } from '../../extension/wire/session-messages';
import { batchOf, exceptionsOf, readReceipt, textLeaf } from '../helpers/batches';
import { eventually, pairNodes, startNode, type TestNode } from '../helpers/node';
import { pairedRawPeer, reconnectRawPeer, throwawayIdentity, type RawSessionPeer } from '../helpers/raw-peer';

async function addressOf(node: TestNode): Promise<string> {
  return ((await node.call('status'))['listening'] as { addresses: string[] }).addresses[0] as string;
}

/** Batches each raw peer sent on its current session: receipts name them by position. */
const positions = new WeakMap<RawSessionPeer, number>();

/**
 * Sends raw batch bytes and returns the node's signed verdict on them: the
 * receipt's exceptions (none: every message stored, or a duplicate of one
 * stored). Waits for the receipt covering exactly this batch.
 */
async function exchange(peer: RawSessionPeer, nodeKey: Uint8Array, batch: Uint8Array): Promise<{ id: string; status: number; reason: number }[]> {
  const position = positions.get(peer) ?? 0;
  positions.set(peer, position + 1);
  peer.channel.send(MSG_BATCH, batch);
  for (;;) {
    const [type, body] = await peer.next();
    if (type !== MSG_RECEIPT) continue;
    const receipt = readReceipt(body, nodeKey, peer.identity.publicKey, peer.channel.sessionId);
    if (receipt.firstBatch !== position || receipt.lastBatch !== position) throw new Error(`expected a receipt for batch ${position}, got ${receipt.firstBatch}..${receipt.lastBatch}`);
    return exceptionsOf(receipt);
  }
}

const idOf = (leaf: Uint8Array) => Buffer.from(leaf.subarray(0, 16)).toString('hex');
const refused = (leaf: Uint8Array, reason: number) => [{ id: idOf(leaf), status: AckStatus.REFUSED, reason }];

t.test('batches: every kind of bad one is refused and counted while the real peer keeps talking', async (t) => {
  const bob = await startNode(t);
  const alice = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  const bobKey = publicKeyFromPeerId(bId);
  const address = await addressOf(bob);
  let mallory = await pairedRawPeer(bob, address, bId, 'mallory');
  /** A batch of these leaves from mallory, to bob unless said otherwise. */
  const batch = (leaves: Uint8Array[], time = Date.now(), recipient = bobKey) => batchOf(mallory.identity, recipient, leaves, time);
  const leaf = (fields: Partial<MessageLeaf> = {}) => textLeaf('hello', fields);

  const good = leaf();
  const goodBatch = batch([good]);
  t.same(await exchange(mallory, bobKey, goodBatch), [], 'stored: receipted without exceptions');
  t.same(await exchange(mallory, bobKey, batch([good])), [], 'a retransmission (the same leaf, a fresh batch) is receipted, not stored twice');
  t.same(await exchange(mallory, bobKey, goodBatch), [], 'a replay of the very batch is a duplicate: answered before any costly check, never stored twice');
  // Another message under the id of a stored one: a replay in all but the content.
  const idReuse = () => leaf({ messageId: good.subarray(0, 16), payload: Buffer.from('other') });
  const reused = idReuse();
  t.same(await exchange(mallory, bobKey, batch([reused])), refused(reused, AckReason.ID_REUSED), 'an id reused on the same connection');

  const tampered = leaf();
  const tamperedBatch = flipped(batch([tampered]), -1);
  const cases: [string, Uint8Array, Uint8Array, number][] = [
    ['tampered payload', tamperedBatch, tampered, AckReason.BAD_SIGNATURE],
    ...(() => {
      const made: [string, Uint8Array, Uint8Array, number][] = [];
      const add = (name: string, l: Uint8Array, reason: number, make: (l: Uint8Array) => Uint8Array) => made.push([name, make(l), l, reason]);
      add('stale time', leaf(), AckReason.STALE_TIMESTAMP, (l) => batch([l], Date.now() - 6 * 60_000));
      add('future time', leaf(), AckReason.FUTURE_TIMESTAMP, (l) => batch([l], Date.now() + 6 * 60_000));
      add('another recipient', leaf(), AckReason.WRONG_RECIPIENT, (l) => batch([l], Date.now(), throwawayIdentity().publicKey));
      add('bad json', leaf({ type: 'json', payload: Buffer.from('{nope') }), AckReason.BAD_PAYLOAD, (l) => batch([l]));
      add('invalid UTF-8 text', leaf({ payload: Uint8Array.of(0xff, 0xfe) }), AckReason.BAD_PAYLOAD, (l) => batch([l]));
      add('oversize payload', leaf({ payload: Buffer.alloc(1024 * 1024 + 1, 0x61) }), AckReason.PAYLOAD_TOO_LARGE, (l) => batch([l]));
      const unknownType = Uint8Array.from(leaf());
      unknownType[24] = 0xff; // no type has this code
      add('a leaf of an unknown type', unknownType, AckReason.MALFORMED, (l) => batch([l]));
      return made;
    })(),
  ];
  for (const [name, bytes, refusedLeaf, reason] of cases) {
    t.same(await exchange(mallory, bobKey, bytes), refused(refusedLeaf, reason), name);
  }

  // One bad message does not spoil the others of its batch.
  const [fine, bad] = [textLeaf('in a mixed batch'), leaf({ type: 'json', payload: Buffer.from('[') })];
  t.same(await exchange(mallory, bobKey, batch([fine, bad])), refused(bad, AckReason.BAD_PAYLOAD), 'only the bad message is listed');

  // Naming another key as the sender gets the same answer whether this node trusts that key or not.
  const stranger = throwawayIdentity();
  const [l1, l2] = [leaf(), leaf()];
  t.same(await exchange(mallory, bobKey, batchOf(stranger, bobKey, [l1])), refused(l1, AckReason.SENDER_MISMATCH), 'an unknown third key');
  const asAlice = batch([l2]);
  Buffer.from(asAlice.buffer, asAlice.byteOffset).set(publicKeyFromPeerId(aId), 0);
  t.same(await exchange(mallory, bobKey, asAlice), refused(l2, AckReason.SENDER_MISMATCH), 'a trusted third key: the same answer');

  // A receipt that does not hold changes nothing and is counted.
  mallory.channel.send(MSG_RECEIPT, randomBytes(40));
  mallory.channel.send(MSG_RECEIPT, signReceipt({ firstBatch: 0, lastBatch: 0, exceptions: [] }, mallory.identity, bobKey, mallory.channel.sessionId));

  // Bytes that do not frame as a batch close the session: an honest peer never sends them.
  const closed = once(mallory.channel, 'close');
  mallory.channel.send(MSG_BATCH, Buffer.concat([randomBytes(138), Uint8Array.of(0, 0, 0, 9)]));
  t.equal((await closed)[0], CloseCode.BAD_FRAME, 'closed 4002 on a batch that does not frame');

  // Replay after reconnecting, and after a restart of the receiver.
  mallory = await reconnect(address, bId, mallory);
  const reusedAgain = idReuse();
  t.same(await exchange(mallory, bobKey, batch([reusedAgain])), refused(reusedAgain, AckReason.ID_REUSED), 'an id reused after reconnecting');

  // Meanwhile the real peer is served.
  const sent = await alice.call('send', { peer: bId, type: 'text', content: 'still here' });
  await eventually(async () => ((await bob.call('receive', { peer: aId, wait_ms: 200 }))['messages'] as unknown[]).length === 1, 'alice message');
  await eventually(async () => (await alice.call('message_status', { message_id: sent['message_id'] }))['state'] === 'delivered', 'delivery');

  const refusals = ((await bob.call('status'))['refusals'] as { network: Record<string, number> }).network;
  for (const name of ['id_reused', 'bad_signature', 'stale_timestamp', 'future_timestamp', 'wrong_recipient', 'bad_payload', 'payload_too_large', 'malformed', 'sender_mismatch']) {
    t.ok((refusals[`message_${name}`] ?? 0) >= 1, `counted: ${name}`);
  }
  t.equal(refusals['bad_receipt'], 2, 'counted: both receipts that do not hold');
  t.equal(refusals['batch_malformed'], 1, 'counted: the batch that does not frame');
  const received = (await bob.call('receive', { peer: mallory.peerId }))['messages'] as { content: string }[];
  t.same(received.map((m) => m.content), ['hello', 'in a mixed batch'], 'exactly the two good messages from mallory were stored');
  const rejected = bob.events.filter((e) => e.type === 'p2p.message.rejected' && e.data['peer'] === mallory.peerId);
  t.ok(rejected.length >= 1 && rejected.length <= 2, `refusals are tallied into at most one event per interval, not one per message (got ${rejected.length})`);
  t.equal(rejected[0]?.data['side'], 'local');

  await bob.extension.shutdown();
  const bob2 = await startNode(t, { dataDir: bob.dataDir });
  const after = await reconnect(await addressOf(bob2), bId, mallory);
  const reusedLast = idReuse();
  t.same(await exchange(after, bobKey, batchOf(after.identity, bobKey, [reusedLast])), refused(reusedLast, AckReason.ID_REUSED), 'an id reused after the receiver restarted');
  t.same(await exchange(after, bobKey, batchOf(after.identity, bobKey, [good])), [], 'and the stored message itself is still a duplicate');
  t.same(((await bob2.call('receive', { peer: mallory.peerId }))['messages'] as unknown[]).length, 2, 'not stored twice');
});

t.test("a paired peer reusing another peer's message id, after or before that peer's message, takes nothing from it", async (t) => {
  // One unacked message per peer: alice's second waits in her outbox while bob's inbox holds her first.
  const bob = await startNode(t, { env: { P2P_COMM_INBOX_MAX_MESSAGES: '1' } });
  const alice = await startNode(t);
  const { aId, bId } = await pairNodes(alice, bob);
  const bobKey = publicKeyFromPeerId(bId);
  const mallory = await pairedRawPeer(bob, await addressOf(bob), bId, 'mallory');
  const reusing = (messageId: string, content: string) => batchOf(mallory.identity, bobKey, [textLeaf(content, { messageId: Buffer.from(messageId, 'hex') })]);
  const receive = async (peer: string, after = 0) => (await bob.call('receive', { peer, after, wait_ms: 200 })) as { messages: { content: string }[]; next_cursor: number };
  const stateOf = async (id: string) => alice.call('message_status', { message_id: id });

  const first = (await alice.call('send', { peer: bId, type: 'text', content: 'first' }))['message_id'] as string;
  await eventually(async () => (await stateOf(first))['state'] === 'delivered', 'first delivered');
  t.same(await exchange(mallory, bobKey, reusing(first, 'after alice')), [], "mallory's own message, not a duplicate of alice's");

  const second = (await alice.call('send', { peer: bId, type: 'text', content: 'second' }))['message_id'] as string;
  await eventually(async () => (await stateOf(second))['reason'] === 'inbox_full', 'second deferred');
  await bob.call('ack', { peer: mallory.peerId, through: (await receive(mallory.peerId)).next_cursor });
  t.same(await exchange(mallory, bobKey, reusing(second, 'before alice')), [], 'taken by mallory first');

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
