import t from 'tap';
import type { SettledState } from '../../extension/messaging/messenger';
import { AckReason, AckStatus } from '../../extension/wire/delivery-codes';
import type { EpochStatement } from '../../extension/wire/group-statement';
import { envelopeBy, groupHistory } from '../helpers/groups';
import { idsOf, messengerSender, startTimers } from '../helpers/messenger-sender';
import { eventually } from '../helpers/node';

const TRANSFER = new Uint8Array(16).fill(7);

type Node = ReturnType<typeof messengerSender>;

/** Chunks `first`..`first + count - 1` of one transfer, sent in one turn (so in that order). */
const sendChunks = (node: Node, count: number, first = 0): Promise<string[]> =>
  Promise.all(Array.from({ length: count }, (_, n) => node.sendAs('file_chunk', { transferId: TRANSFER, index: first + n, data: new Uint8Array(64).fill(n) })));

/** Every settle call, in order. */
function settleLog(node: Node): Array<{ peer: string; id: string; state: SettledState; reason: string | null }> {
  const calls: Array<{ peer: string; id: string; state: SettledState; reason: string | null }> = [];
  node.messenger.onSettled((peer, id, state, reason) => calls.push({ peer, id, state, reason }));
  return calls;
}

/** Lets every callback already due run: a pump scheduled now has run when this resolves. */
const nextTurns = async (turns: number) => {
  for (let turn = 0; turn < turns; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
};

t.test('a text message sent while 100 chunks wait goes out in the next batch, before the chunks', async (t) => {
  const node = messengerSender(t);
  node.connect();
  const chunks = await sendChunks(node, 100);
  t.same(idsOf(await node.nextBatch()), chunks.slice(0, 8), 'the first 8 chunks: the bulk share of the window (default 8)');
  await nextTurns(5);
  t.equal(node.batchesWaiting(), 0, 'no more chunks while 8 are unreceipted');
  const text = await node.send('while the transfer runs');
  t.same(idsOf(await node.nextBatch()), [text], 'the text goes at once, alone: the chunks wait for room in their share');
  node.receipt({ firstBatch: 0, lastBatch: 1, exceptions: [] });
  t.same(idsOf(await node.nextBatch()), chunks.slice(8, 16), 'the next 8 chunks once the first are receipted, in order');

  // With both lines waiting (offline, then a new session), the batch takes the messages first.
  node.disconnect();
  const later = await node.send('after a reconnect');
  node.connect();
  t.same(idsOf(await node.nextBatch()), [later, ...chunks.slice(8, 16)], 'the message first, then the chunks no receipt covered');
});

t.test('chunks never take more than the bulk share of the in-flight window', async (t) => {
  const node = messengerSender(t, { bulkInFlightPerPeer: 3, maxBatchLeaves: 2 });
  const settled = settleLog(node);
  node.connect();
  const [chunks, texts] = await Promise.all([sendChunks(node, 10), Promise.all(['one', 'two', 'three'].map((text) => node.send(text)))]);
  const [c0, c1, c2, c3, c4, c5] = chunks;
  t.same(idsOf(await node.nextBatch()), texts.slice(0, 2), 'messages first');
  t.same(idsOf(await node.nextBatch()), [texts[2], c0], 'the last message, then a chunk in the room left');
  t.same(idsOf(await node.nextBatch()), [c1, c2], 'chunks up to the share of 3');
  await nextTurns(5);
  t.equal(node.batchesWaiting(), 0, 'then nothing: 3 chunks are in flight');
  node.receipt({ firstBatch: 0, lastBatch: 2, exceptions: [] });
  t.same(idsOf(await node.nextBatch()), [c3, c4]);
  t.same(idsOf(await node.nextBatch()), [c5], 'again 3 in flight, in send order');
  await nextTurns(5);
  t.equal(node.batchesWaiting(), 0);
  t.same(
    settled.map(({ id, state, reason }) => [id, state, reason]),
    [...texts, c0, c1, c2].map((id) => [id, 'delivered', null]),
    'each delivered message settled once',
  );
});

t.test('a new session sorts the pending messages into the two lines, keeping the order within each', async (t) => {
  const node = messengerSender(t, { bulkInFlightPerPeer: 2 });
  const sent: string[] = [];
  // Sent offline, one at a time, interleaved: the outbox holds them in this order.
  for (const kind of ['chunk', 'text', 'chunk', 'text', 'chunk', 'chunk']) {
    sent.push(kind === 'text' ? await node.send(`text ${sent.length}`) : ((await sendChunks(node, 1, sent.length))[0] as string));
  }
  const [c0, t0, c1, t1, c2, c3] = sent;
  node.connect();
  t.same(idsOf(await node.nextBatch()), [t0, t1, c0, c1], 'messages in order, then chunks in order, up to the share');
  node.disconnect();
  const t2 = await node.send('sent while offline');
  node.connect();
  t.same(idsOf(await node.nextBatch()), [t0, t1, t2, c0, c1], 'after a reconnect: what no receipt covered, sorted again');
  node.receipt({ firstBatch: 0, lastBatch: 0, exceptions: [] });
  t.same(idsOf(await node.nextBatch()), [c2, c3], 'the rest of the chunks once the first are receipted');
});

t.test('onSettled is called once per final state: delivered, refused, expired, revoked', async (t) => {
  let now = Date.now();
  const node = messengerSender(t, { expirySweepMs: 10 }, () => now);
  const settled = settleLog(node);
  node.connect();
  const [delivered, refused, deferred] = await Promise.all([node.send('delivered'), node.send('refused'), node.send('deferred')]);
  t.same(idsOf(await node.nextBatch()), [delivered, refused, deferred]);
  const exceptions = [
    { messageId: Buffer.from(refused as string, 'hex'), status: AckStatus.REFUSED, reason: AckReason.BAD_PAYLOAD },
    { messageId: Buffer.from(deferred as string, 'hex'), status: AckStatus.DEFERRED, reason: AckReason.INBOX_FULL },
  ];
  node.receipt({ firstBatch: 0, lastBatch: 0, exceptions });
  await eventually(async () => node.stateOf(refused as string) === 'failed' && node.reasonOf(deferred as string) === 'inbox_full', 'the receipt applied');
  t.same(
    settled.map(({ id, state, reason }) => [id, state, reason]),
    [
      [delivered, 'delivered', null],
      [refused, 'failed', 'bad_payload'],
    ],
    'delivered and refused, each once; a deferral is not final',
  );
  t.ok(settled.every(({ peer }) => peer === node.peerId));

  node.disconnect();
  const expiring = await node.sendAs('text', 'short-lived', 1);
  startTimers(t, node);
  now += 2000;
  await eventually(async () => settled.length === 3, 'the expiry sweep ran');
  t.same(settled[2], { peer: node.peerId, id: expiring, state: 'expired', reason: 'ttl' });

  const chunk = (await sendChunks(node, 1))[0] as string;
  await node.messenger.revokedHere(node.peerId);
  t.same(
    settled.slice(3).map(({ id, state, reason }) => [id, state, reason]),
    [
      [deferred, 'failed', 'revoked'],
      [chunk, 'failed', 'revoked'],
    ],
    'revocation settles every pending message, chunks too',
  );
  await node.messenger.revokedHere(node.peerId);
  t.equal(settled.length, 5, 'a second revocation settles nothing again');
  t.same(new Set(settled.map(({ id }) => id)).size, settled.length, 'no message settled twice');
});

t.test('the peer revoking this node settles its pending messages with revoked_by_peer', async (t) => {
  const node = messengerSender(t);
  const settled = settleLog(node);
  const ids = [await node.send('pending'), ...(await sendChunks(node, 2))];
  node.messenger.revokedByPeer(node.peerId);
  await eventually(async () => settled.length === 3, 'all three settled');
  t.same(
    settled.map(({ id, state, reason }) => [id, state, reason]),
    ids.map((id) => [id, 'failed', 'revoked_by_peer']),
  );
});

t.test('failPending fails exactly the pending messages named, settles them, and frees their bulk share', async (t) => {
  const node = messengerSender(t, { bulkInFlightPerPeer: 2 });
  const settled = settleLog(node);
  node.connect();
  const [chunks, text] = await Promise.all([sendChunks(node, 5), node.send('not part of the transfer')]);
  const [c0, c1, c2, c3, c4] = chunks as [string, string, string, string, string];
  t.same(idsOf(await node.nextBatch()), [text, c0, c1]);
  node.receipt({ firstBatch: 0, lastBatch: 0, exceptions: [] });
  await eventually(async () => node.stateOf(c0) === 'delivered', 'the first batch delivered');
  t.same(idsOf(await node.nextBatch()), [c2, c3]);
  const before = settled.length;

  const failed = await node.messenger.failPending(node.peerId, [c4, c3, c0, 'ab'.repeat(16)], 'cancelled');
  t.same(failed, [c3, c4], 'the pending ones named, in send order; a delivered one and an unknown id are left alone');
  t.same(
    settled.slice(before).map(({ id, state, reason }) => [id, state, reason]),
    [
      [c3, 'failed', 'cancelled'],
      [c4, 'failed', 'cancelled'],
    ],
  );
  t.same([text, c0, c1, c2, c3, c4].map(node.stateOf), ['delivered', 'delivered', 'delivered', 'sent', 'failed', 'failed']);
  t.equal(node.reasonOf(c3), 'cancelled');

  // c3 was in flight: its failure freed a place in the bulk share, taken by the next chunk sent.
  const [c5, c6] = (await sendChunks(node, 2, 5)) as [string, string];
  t.same(idsOf(await node.nextBatch()), [c5], 'one place free: c2 is still in flight');
  node.receipt({ firstBatch: 1, lastBatch: 2, exceptions: [] });
  t.same(idsOf(await node.nextBatch()), [c6]);
  await eventually(async () => node.stateOf(c2) === 'delivered', 'c2 delivered');
  t.same(node.stateOf(c3), 'failed', 'a receipt covering a failed message leaves it failed');
  t.equal(settled.filter(({ id }) => id === c3).length, 1, 'and settles it only once');
  // Chunks are reported by the file service as transfers: no p2p.message.* event for any of them, the text's as ever.
  const events = node.events.takeBatch(1000).filter((event) => event.type.startsWith('p2p.message.'));
  t.same(
    events.map((event) => [event.type, event.data['message_id']]),
    [['p2p.message.delivered', text]],
  );
});

t.test('group copies, like chunks, raise no p2p.message.* event: those are scoped by peer, not by group', async (t) => {
  const { alice, epochs } = groupHistory();
  const node = messengerSender(t);
  node.connect();
  const [copy, text] = (await Promise.all([
    node.sendAs('group_message', { envelope: envelopeBy(alice, epochs[0] as EpochStatement), relay: null }),
    node.send('an ordinary message'),
  ])) as [string, string];
  t.same(idsOf(await node.nextBatch()), [copy, text]);
  node.receipt({ firstBatch: 0, lastBatch: 0, exceptions: [] });
  await eventually(async () => node.stateOf(copy) === 'delivered' && node.stateOf(text) === 'delivered', 'both delivered');
  const events = node.events.takeBatch(1000).filter((event) => event.type.startsWith('p2p.message.'));
  t.same(events.map((event) => [event.type, event.data['message_id']]), [['p2p.message.delivered', text]]);
});

t.test('chunks put on the wire again are counted once each: those unreceipted when a session breaks, and those pending at start', async (t) => {
  const node = messengerSender(t, { bulkInFlightPerPeer: 3 });
  node.connect();
  const chunks = await sendChunks(node, 6);
  t.same(idsOf(await node.nextBatch()), chunks.slice(0, 3));
  node.receipt({ firstBatch: 0, lastBatch: 0, exceptions: [] });
  t.same(idsOf(await node.nextBatch()), chunks.slice(3, 6));
  const text = await node.send('not a chunk');
  t.same(idsOf(await node.nextBatch()), [text]);
  t.equal(node.messenger.bulkResentCount(), 0, 'each chunk went once so far');

  node.disconnect();
  node.connect();
  t.same(idsOf(await node.nextBatch()), [text, ...chunks.slice(3, 6)], 'the new session offers again what no receipt covered');
  t.equal(node.messenger.bulkResentCount(), 3, 'the three chunks in flight, not the receipted ones nor the text');
  node.disconnect();
  node.connect();
  t.same(idsOf(await node.nextBatch()), [text, ...chunks.slice(3, 6)]);
  t.equal(node.messenger.bulkResentCount(), 3, 'a chunk sent a third time is still one chunk sent again');
  node.receipt({ firstBatch: 0, lastBatch: 0, exceptions: [] });
  await eventually(async () => node.stateOf(chunks[5] as string) === 'delivered', 'all delivered');

  const restarted = messengerSender(t, { bulkInFlightPerPeer: 3 });
  const before = await sendChunks(restarted, 2);
  // Pending when the node starts: they may have left before a stop, so their first transmission is counted.
  startTimers(t, restarted);
  restarted.connect();
  t.same(idsOf(await restarted.nextBatch()), before);
  const after = await sendChunks(restarted, 1, 2);
  t.same(idsOf(await restarted.nextBatch()), after);
  t.equal(restarted.messenger.bulkResentCount(), 2, 'the two pending at start, not the one sent after it');
});
