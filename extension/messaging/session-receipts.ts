import { MAX_RECEIPT_EXCEPTIONS, type Receipt, type ReceiptException } from '../wire/receipt';

/**
 * The receiver's account of one session's batches (docs/protocol.md §10):
 * each gets the next position as it arrives, is decided when every message
 * of it is stored, a duplicate, refused or deferred (in any order: stores
 * finish when their fsync does), and is receipted in position order, so a
 * receipt covers the decided batches that follow the last receipted one.
 */
export class SessionReceipts {
  private next = 0;
  /** First batch the next receipt covers. */
  private receiptFrom = 0;
  /** Decided batches not yet receipted: their exceptions. */
  private readonly decided = new Map<number, ReceiptException[]>();
  /** Those of them that stored something. */
  private readonly storedIn = new Set<number>();

  /** The position of the batch the session just delivered. */
  arrived(): number {
    const position = this.next;
    this.next += 1;
    return position;
  }

  /**
   * Records a decided batch. The receipt covering it is due at once while
   * a decided batch stored something (it claims what one fsync made
   * durable, and its sender's window waits for it); otherwise it may wait
   * for more to join it.
   */
  decide(position: number, exceptions: ReceiptException[], stored: boolean): 'now' | 'later' {
    this.decided.set(position, exceptions);
    if (stored) this.storedIn.add(position);
    return this.storedIn.size > 0 ? 'now' : 'later';
  }

  /** The receipts due: every decided batch that follows the last receipted one, in order, each within MAX_RECEIPT_EXCEPTIONS. */
  take(): Receipt[] {
    const receipts: Receipt[] = [];
    let first = this.receiptFrom;
    let exceptions: ReceiptException[] = [];
    let position = first;
    for (let batch = this.decided.get(position); batch !== undefined; batch = this.decided.get(position)) {
      if (exceptions.length + batch.length > MAX_RECEIPT_EXCEPTIONS) {
        receipts.push({ firstBatch: first, lastBatch: position - 1, exceptions });
        first = position;
        exceptions = [];
      }
      exceptions.push(...batch);
      this.decided.delete(position);
      this.storedIn.delete(position);
      position += 1;
    }
    if (position > first) receipts.push({ firstBatch: first, lastBatch: position - 1, exceptions });
    this.receiptFrom = position;
    return receipts;
  }
}
