import t from 'tap';
import { SessionReceipts } from '../../extension/messaging/session-receipts';
import { AckReason, AckStatus } from '../../extension/wire/delivery-codes';
import { MAX_RECEIPT_EXCEPTIONS, type ReceiptException } from '../../extension/wire/receipt';

const refusals = (count: number, tag: number): ReceiptException[] =>
  Array.from({ length: count }, (_, n) => ({ messageId: new Uint8Array(16).fill(tag).fill(n & 0xff, 0, 1), status: AckStatus.REFUSED, reason: AckReason.BAD_PAYLOAD }));

t.test('batches get positions in arrival order and are receipted in that order, whatever order they are decided in', async (t) => {
  const receipts = new SessionReceipts();
  const [a, b, c] = [receipts.arrived(), receipts.arrived(), receipts.arrived()];
  t.same([a, b, c], [0, 1, 2]);
  t.equal(receipts.decide(c, [], true), 'now');
  t.same(receipts.take(), [], 'batch 2 waits for 0 and 1');
  t.equal(receipts.decide(a, refusals(1, 1), false), 'now', 'a batch that stored is still waiting: the receipt is due now');
  t.same(receipts.take(), [{ firstBatch: 0, lastBatch: 0, exceptions: refusals(1, 1) }]);
  t.equal(receipts.decide(b, [], false), 'now');
  t.same(receipts.take(), [{ firstBatch: 1, lastBatch: 2, exceptions: [] }], 'continues the last receipt');
  t.same(receipts.take(), [], 'each batch once');
});

t.test('batches that stored nothing may wait for more', async (t) => {
  const receipts = new SessionReceipts();
  t.equal(receipts.decide(receipts.arrived(), refusals(2, 1), false), 'later');
  t.equal(receipts.decide(receipts.arrived(), [], false), 'later', 'duplicates only');
  t.same(receipts.take(), [{ firstBatch: 0, lastBatch: 1, exceptions: refusals(2, 1) }]);
  t.equal(receipts.decide(receipts.arrived(), [], true), 'now');
  t.equal(receipts.decide(receipts.arrived(), [], false), 'now', 'behind one that stored');
  t.same(receipts.take(), [{ firstBatch: 2, lastBatch: 3, exceptions: [] }]);
  t.equal(receipts.decide(receipts.arrived(), [], false), 'later', 'once it is receipted, waiting is allowed again');
});

t.test('a receipt lists at most MAX_RECEIPT_EXCEPTIONS: more batches make more receipts', async (t) => {
  const receipts = new SessionReceipts();
  for (let n = 0; n < 5; n += 1) receipts.decide(receipts.arrived(), refusals(256, n), false);
  receipts.decide(receipts.arrived(), [], false);
  const taken = receipts.take();
  t.same(
    taken.map((r) => [r.firstBatch, r.lastBatch, r.exceptions.length]),
    [
      [0, 3, MAX_RECEIPT_EXCEPTIONS],
      [4, 5, 256],
    ],
  );
});
