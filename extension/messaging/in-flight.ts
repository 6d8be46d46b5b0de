/**
 * Messages sent on a session and not yet acknowledged, with a count per
 * peer so that the send window is checked in constant time on the hot path.
 */
export class InFlight {
  private readonly entries = new Map<string, { peer: string; sentAt: number }>();
  private readonly perPeer = new Map<string, number>();

  get size(): number {
    return this.entries.size;
  }

  has(messageId: string): boolean {
    return this.entries.has(messageId);
  }

  countFor(peerId: string): number {
    return this.perPeer.get(peerId) ?? 0;
  }

  add(messageId: string, peerId: string, sentAt: number): void {
    if (this.entries.has(messageId)) return;
    this.entries.set(messageId, { peer: peerId, sentAt });
    this.perPeer.set(peerId, this.countFor(peerId) + 1);
  }

  delete(messageId: string): void {
    const entry = this.entries.get(messageId);
    if (entry === undefined) return;
    this.entries.delete(messageId);
    const left = this.countFor(entry.peer) - 1;
    if (left === 0) this.perPeer.delete(entry.peer);
    else this.perPeer.set(entry.peer, left);
  }

  /** Forgets everything in flight to a peer (its session ended or was replaced). */
  clearPeer(peerId: string): void {
    if (!this.perPeer.has(peerId)) return;
    for (const [id, entry] of this.entries) if (entry.peer === peerId) this.entries.delete(id);
    this.perPeer.delete(peerId);
  }

  /** Removes the entries sent before `cutoff`; returns the peers they were for. */
  takeOlderThan(cutoff: number): Set<string> {
    const peers = new Set<string>();
    for (const [id, entry] of this.entries) {
      if (entry.sentAt >= cutoff) continue;
      this.delete(id);
      peers.add(entry.peer);
    }
    return peers;
  }
}
