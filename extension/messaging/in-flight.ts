/**
 * Messages sent on a session and not yet settled by a receipt, with a count
 * per peer so that the send window is checked in constant time on the hot
 * path, and, per peer, the ids of each batch the current session carried:
 * a receipt names batches by their position in the session (from 0). The
 * bulk messages (file chunks) are counted apart too, as they may take only
 * part of the window.
 */
export class InFlight {
  private readonly entries = new Map<string, { peer: string; sentAt: number; bulk: boolean }>();
  private readonly perPeer = new Map<string, number>();
  private readonly bulkPerPeer = new Map<string, number>();
  private readonly sessions = new Map<string, SentBatches>();

  get size(): number {
    return this.entries.size;
  }

  has(messageId: string): boolean {
    return this.entries.has(messageId);
  }

  countFor(peerId: string): number {
    return this.perPeer.get(peerId) ?? 0;
  }

  /** The bulk messages among countFor(peerId). */
  bulkCountFor(peerId: string): number {
    return this.bulkPerPeer.get(peerId) ?? 0;
  }

  /** Message ids, counted once per batch naming them, in the batches of the peer's current session that no receipt has covered yet. */
  awaitingReceipt(peerId: string): number {
    return this.sessions.get(peerId)?.awaiting ?? 0;
  }

  /**
   * Records a batch sent on the peer's current session; returns its
   * position there. Its last `bulkCount` ids are bulk messages (a batch
   * takes the ordinary ones first).
   */
  addBatch(peerId: string, messageIds: readonly string[], sentAt: number, bulkCount = 0): number {
    let session = this.sessions.get(peerId);
    if (session === undefined) {
      session = { next: 0, receiptFrom: 0, batches: new Map(), awaiting: 0 };
      this.sessions.set(peerId, session);
    }
    const position = session.next;
    session.next += 1;
    session.batches.set(position, messageIds);
    session.awaiting += messageIds.length;
    const firstBulk = messageIds.length - bulkCount;
    for (let index = 0; index < messageIds.length; index += 1) this.add(messageIds[index] as string, peerId, sentAt, index >= firstBulk);
    return position;
  }

  /**
   * The ids of batches first..last, each once (a message offered again after
   * the ack timeout is in two of them), when a receipt for them continues
   * the previous one and covers only batches sent; null otherwise. Not
   * removed until `settle`.
   */
  covered(peerId: string, first: number, last: number): Set<string> | null {
    const session = this.sessions.get(peerId);
    if (session === undefined || first !== session.receiptFrom || last >= session.next) return null;
    const ids = new Set<string>();
    for (let position = first; position <= last; position += 1) for (const id of session.batches.get(position) ?? []) ids.add(id);
    return ids;
  }

  /** Forgets the batches through `last`, which a receipt settled. */
  settle(peerId: string, last: number): void {
    const session = this.sessions.get(peerId);
    if (session === undefined) return;
    for (let position = session.receiptFrom; position <= last; position += 1) {
      session.awaiting -= session.batches.get(position)?.length ?? 0;
      session.batches.delete(position);
    }
    session.receiptFrom = last + 1;
  }

  delete(messageId: string): void {
    const entry = this.entries.get(messageId);
    if (entry === undefined) return;
    this.entries.delete(messageId);
    decrement(this.perPeer, entry.peer);
    if (entry.bulk) decrement(this.bulkPerPeer, entry.peer);
  }

  /** Forgets everything in flight to a peer, and its batch positions (its session ended or was replaced). */
  clearPeer(peerId: string): void {
    this.sessions.delete(peerId);
    if (!this.perPeer.has(peerId)) return;
    for (const [id, entry] of this.entries) if (entry.peer === peerId) this.entries.delete(id);
    this.perPeer.delete(peerId);
    this.bulkPerPeer.delete(peerId);
  }

  /** Removes the entries sent before `cutoff`; returns the peers they were for. Their batches stay, for a receipt that comes late. */
  takeOlderThan(cutoff: number): Set<string> {
    const peers = new Set<string>();
    for (const [id, entry] of this.entries) {
      if (entry.sentAt >= cutoff) continue;
      this.delete(id);
      peers.add(entry.peer);
    }
    return peers;
  }

  private add(messageId: string, peerId: string, sentAt: number, bulk: boolean): void {
    if (this.entries.has(messageId)) return;
    this.entries.set(messageId, { peer: peerId, sentAt, bulk });
    this.perPeer.set(peerId, this.countFor(peerId) + 1);
    if (bulk) this.bulkPerPeer.set(peerId, this.bulkCountFor(peerId) + 1);
  }
}

function decrement(counts: Map<string, number>, peerId: string): void {
  const left = (counts.get(peerId) ?? 0) - 1;
  if (left <= 0) counts.delete(peerId);
  else counts.set(peerId, left);
}

interface SentBatches {
  /** Position of the next batch. */
  next: number;
  /** First batch the next receipt must cover. */
  receiptFrom: number;
  /** Ids of each batch not yet covered by a receipt, by position. */
  batches: Map<number, readonly string[]>;
  /** How many ids `batches` holds. */
  awaiting: number;
}
