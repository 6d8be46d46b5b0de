import { randomBytes } from 'node:crypto';
import t from 'tap';
import { DEFAULT_MESSAGING_CONFIG, MIN_FRAME_BYTES } from '../../extension/config';
import { AckReason, AckStatus } from '../../extension/wire/delivery-codes';
import { decodeLeaf } from '../../extension/wire/message-leaf';
import { idsOf, messengerSender as sender, startTimers } from '../helpers/messenger-sender';
import { eventually } from '../helpers/node';



t.test('what waits for a peer goes out at once in one batch, within the window; a receipt settles it', async (t) => {
  const node = sender(t, { maxInFlightPerPeer: 3 });
  const ids: string[] = [];
  for (const text of ['one', 'two', 'three', 'four', 'five']) ids.push(await node.send(text));
  node.connect();
  const first = await node.nextBatch();
  t.same(idsOf(first), ids.slice(0, 3), 'the first three, in send order, under one signature: the window is 3');
  t.same(
    first.leaves.map((leaf) => Buffer.from(decodeLeaf(leaf, 1024).payload).toString()),
    ['one', 'two', 'three'],
  );
  t.same(ids.map(node.stateOf), ['sent', 'sent', 'sent', 'queued', 'queued']);
  node.receipt({ firstBatch: 0, lastBatch: 0, exceptions: [] });
  const second = await node.nextBatch();
  t.same(idsOf(second), ids.slice(3), 'the rest once the window has room');
  await eventually(async () => ids.slice(0, 3).every((id) => node.stateOf(id) === 'delivered'), 'the first three delivered');
  node.receipt({ firstBatch: 1, lastBatch: 1, exceptions: [] });
  await eventually(async () => ids.every((id) => node.stateOf(id) === 'delivered'), 'all delivered');
  t.equal(node.refusals.get('network', 'bad_receipt'), 0);
});

t.test('sends of one turn join one batch; a batch holds at most maxBatchLeaves', async (t) => {
  const node = sender(t, { maxBatchLeaves: 2 });
  node.connect();
  const ids = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((text) => node.send(text)));
  const seen: string[][] = [];
  while (seen.flat().length < ids.length) seen.push(idsOf(await node.nextBatch()));
  t.ok(seen.every((batch) => batch.length <= 2), `batches of at most two: ${seen.map((batch) => batch.length).join(', ')}`);
  t.same(seen.flat().sort(), [...ids].sort(), 'each message once');
});

t.test('a message offered again is the same leaf, in a freshly signed batch', async (t) => {
  const node = sender(t);
  node.connect();
  const id = await node.send('again and again');
  const first = await node.nextBatch();
  node.disconnect();
  node.connect();
  const second = await node.nextBatch();
  t.same(idsOf(second), [id]);
  t.same(second.leaves[0], first.leaves[0], 'byte for byte: the receiver tells a retransmission by its leaf hash');
  t.ok(second.header.time >= first.header.time, 'signed at this transmission (sendTo checked the signature)');
  t.equal(node.stateOf(id), 'sent');
});

t.test('exceptions fail or defer their messages; the others of the batch are delivered', async (t) => {
  const node = sender(t);
  node.connect();
  const ids = await Promise.all(['stored', 'refused', 'deferred'].map((text) => node.send(text)));
  const batch = await node.nextBatch();
  const byText = new Map(batch.leaves.map((leaf, n) => [Buffer.from(decodeLeaf(leaf, 1024).payload).toString(), idsOf(batch)[n] as string]));
  const [stored, refused, deferred] = ['stored', 'refused', 'deferred'].map((text) => byText.get(text) as string);
  t.same([stored, refused, deferred].sort(), [...ids].sort());
  node.receipt({
    firstBatch: 0,
    lastBatch: 0,
    exceptions: [
      { messageId: Buffer.from(refused as string, 'hex'), status: AckStatus.REFUSED, reason: AckReason.ID_REUSED },
      { messageId: Buffer.from(deferred as string, 'hex'), status: AckStatus.DEFERRED, reason: AckReason.INBOX_FULL },
    ],
  });
  await eventually(async () => node.stateOf(stored as string) === 'delivered' && node.stateOf(refused as string) === 'failed', 'settled');
  t.equal(node.reasonOf(refused as string), 'id_reused');
  await eventually(async () => node.reasonOf(deferred as string) === 'inbox_full', 'deferred');
  t.equal(node.stateOf(deferred as string), 'queued', 'to be offered again after a pause');
});

t.test('a receipt that does not hold changes nothing and is counted', async (t) => {
  const node = sender(t);
  node.connect();
  const id = await node.send('hello');
  await node.nextBatch();
  const other = await node.send('second');
  await node.nextBatch();
  const bad: [string, () => void][] = [
    ['another session', () => node.receipt({ firstBatch: 0, lastBatch: 0, exceptions: [] }, randomBytes(32))],
    ['a gap before it', () => node.receipt({ firstBatch: 1, lastBatch: 1, exceptions: [] })],
    ['a batch never sent', () => node.receipt({ firstBatch: 0, lastBatch: 2, exceptions: [] })],
    [
      'an exception for a message not in the batches it covers',
      () => node.receipt({ firstBatch: 0, lastBatch: 0, exceptions: [{ messageId: Buffer.from(other, 'hex'), status: AckStatus.REFUSED, reason: AckReason.BAD_PAYLOAD }] }),
    ],
  ];
  for (const [what, send] of bad) {
    const before = node.refusals.get('network', 'bad_receipt');
    send();
    await eventually(async () => node.refusals.get('network', 'bad_receipt') === before + 1, what);
  }
  t.same([node.stateOf(id), node.stateOf(other)], ['sent', 'sent'], 'nothing settled');
  node.receipt({ firstBatch: 0, lastBatch: 1, exceptions: [] });
  await eventually(async () => node.stateOf(id) === 'delivered' && node.stateOf(other) === 'delivered', 'the receipt that holds settles both');
  node.receipt({ firstBatch: 0, lastBatch: 1, exceptions: [] });
  await eventually(async () => node.refusals.get('network', 'bad_receipt') === 5, 'a receipt covers its batches once');
});

/** Lets every callback already due run: a pump scheduled now has run when this resolves. */
const nextTurns = async (turns: number) => {
  for (let turn = 0; turn < turns; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
};

t.test('a peer that never sends a receipt makes the sender remember no more than a window offered twice', async (t) => {
  // Each ack timeout offers the messages again in a new batch of the same session; the sender keeps every such batch's ids until a receipt covers it.
  const node = sender(t, { maxInFlightPerPeer: 2, ackTimeoutMs: 10 });
  startTimers(t, node);
  node.connect();
  const ids = await Promise.all([node.send('are you'), node.send('there')]);
  t.same(idsOf(await node.nextBatch()).sort(), [...ids].sort(), 'the window');
  t.same(idsOf(await node.nextBatch()).sort(), [...ids].sort(), 'offered again after the ack timeout');
  // The second batch times out too: its messages are offered again, and would go in a third batch.
  await eventually(async () => node.messenger.inFlightCount() === 0 || node.batchesWaiting() > 0, 'the second batch timed out');
  await nextTurns(3);
  t.equal(node.batchesWaiting(), 0, 'no third batch while two windows await their receipt');
  t.same(ids.map(node.stateOf), ['queued', 'queued'], 'waiting for a receipt or a new session');
  node.receipt({ firstBatch: 0, lastBatch: 1, exceptions: [] });
  await eventually(async () => ids.every((id) => node.stateOf(id) === 'delivered'), 'the late receipt still settles them');
});

t.test('a message in two batches that one receipt covers is settled once', async (t) => {
  const node = sender(t, { ackTimeoutMs: 10 });
  startTimers(t, node);
  node.connect();
  const id = await node.send('twice on the wire');
  await node.nextBatch();
  t.same(idsOf(await node.nextBatch()), [id], 'offered again in batch 1 after the ack timeout');
  node.receipt({ firstBatch: 0, lastBatch: 1, exceptions: [] });
  await eventually(async () => node.stateOf(id) === 'delivered', 'delivered');
  const delivered = node.events.takeBatch(100).filter((event) => event.type === 'p2p.message.delivered');
  t.equal(delivered.length, 1, 'one delivered event');
  t.equal(node.messenger.status(id).attempts, 1);
});

t.test('a message of the largest payload goes alone in a batch that fits any frame a peer accepts; more wait for the next', async (t) => {
  const node = sender(t);
  node.connect();
  const largest = 'a'.repeat(DEFAULT_MESSAGING_CONFIG.maxPayloadBytes);
  const correlationId = 'c'.repeat(128);
  // Sent in one turn, so both wait for the same pump; together they are past MAX_BATCH_BYTES.
  const [big, other] = await Promise.all([
    node.messenger.send({ peer: node.peerId, type: 'text', content: largest, correlationId, ttlSeconds: null }),
    node.messenger.send({ peer: node.peerId, type: 'text', content: 'b'.repeat(8192), correlationId: null, ttlSeconds: null }),
  ]);
  const batches = [idsOf(await node.nextBatch()), idsOf(await node.nextBatch())];
  t.same(batches.map((ids) => ids.length), [1, 1], 'one batch each');
  t.same(batches.flat().sort(), [big.messageId, other.messageId].sort());
  const largestBatch = Math.max(...node.batchSizes);
  t.ok(largestBatch + 1 + 16 <= MIN_FRAME_BYTES, `${largestBatch} bytes, sealed within the smallest frame limit a peer may set`);
});
