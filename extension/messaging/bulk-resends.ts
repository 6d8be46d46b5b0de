/**
 * Counts the bulk messages (file chunks) put on the wire again: what
 * `status.files.chunks_resent` reports, so that anyone can check that a
 * broken session or a restart sends again only what no receipt covered.
 *
 * A message counts once however often it goes again. One pending from
 * before this start counts at its first transmission: the outbox records
 * no transmission, and it may have left before the stop. Entries go when
 * the message settles, so at most the pending bulk messages are kept.
 */
export class BulkResends {
  /** Message id → whether it was counted already. */
  private readonly transmitted = new Map<string, boolean>();
  private resent = 0;

  /** Messages pending in the outbox at start: they may have gone out before. */
  pendingAtStart(messageIds: Iterable<string>): void {
    for (const messageId of messageIds) if (!this.transmitted.has(messageId)) this.transmitted.set(messageId, false);
  }

  /** A bulk message was put on the wire in a batch. */
  sent(messageId: string): void {
    const counted = this.transmitted.get(messageId);
    if (counted === undefined) this.transmitted.set(messageId, false);
    else if (!counted) {
      this.transmitted.set(messageId, true);
      this.resent += 1;
    }
  }

  /** The message reached a final state: it goes no more. */
  settled(messageId: string): void {
    this.transmitted.delete(messageId);
  }

  /** Bulk messages sent again since start, each counted once. */
  count(): number {
    return this.resent;
  }

  /** Messages followed now: at most those pending. */
  get size(): number {
    return this.transmitted.size;
  }
}
