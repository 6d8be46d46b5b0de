/**
 * Events waiting for the host. Nexus reads our stdout only while one of its
 * own calls is in flight, so events cannot be pushed when they happen: they
 * wait here and the host session hands a bounded batch over during each
 * execute. A peer can cause events faster than any host reads them, so
 * three lanes keep what matters:
 *
 * - security events (pairing requests, key mismatches, revocations, a peer
 *   cut off for misbehaving) wait in their own bounded queue, one entry per
 *   event type and peer: a repeat replaces the entry with the newest facts.
 *   Nothing in the other lanes can push them out, and they go first;
 * - tallies: refusals of a peer's messages are counted into one event per
 *   peer, published at most once per interval;
 * - everything else waits in a bounded queue that drops its oldest event,
 *   counted, when full.
 */
export interface OutgoingEvent {
  /** CloudEvents type, e.g. `p2p.peer.connected`. */
  type: string;
  subject?: string;
  data: Record<string, unknown>;
}

export interface OutboxStats {
  queued: number;
  /** Security events waiting (at most one per type and peer). */
  queued_security: number;
  published: number;
  dropped: number;
  /** Security events refused because their queue was full of other peers' events. */
  dropped_security: number;
  /** Events merged into one already waiting (security repeats, tallied refusals). */
  coalesced: number;
  failed: number;
}

export interface EventOutboxLimits {
  /** Ordinary events kept; beyond this the oldest is dropped. */
  maxQueued: number;
  /** Security events kept, one per type and peer; beyond this new ones are dropped, counted. */
  maxQueuedSecurity: number;
  /** Shortest time between two tallies of the same kind for the same peer. */
  tallyIntervalMs: number;
}

/**
 * Event types that tell the user something about trust. They are few by
 * construction (bounded by pending requests and paired peers), and losing
 * one would hide an attack or a decision the user must see.
 */
export const SECURITY_EVENT_TYPES: ReadonlySet<string> = new Set([
  'p2p.peer.request',
  'p2p.peer.paired',
  'p2p.peer.key_mismatch',
  'p2p.peer.revoked',
  'p2p.peer.revoked_by_peer',
  'p2p.peer.misbehaving',
  // A key change is what the safety number is compared again for.
  'p2p.peer.key_rotated',
  'p2p.identity.rotated',
]);

interface Tally {
  event: OutgoingEvent;
  counts: Record<string, number>;
  total: number;
  dueAt: number;
}

export class EventOutbox {
  private queue: OutgoingEvent[] = [];
  /** By `type subject`, in the order first queued (a Map keeps insertion order). */
  private readonly security = new Map<string, OutgoingEvent>();
  private readonly tallies = new Map<string, Tally>();
  /** When each tally key was last published, for the interval; forgotten once the interval has passed. */
  private readonly lastTallied = new Map<string, number>();
  private published = 0;
  private dropped = 0;
  private droppedSecurity = 0;
  private coalesced = 0;
  private failed = 0;

  constructor(
    private readonly limits: EventOutboxLimits,
    private readonly now: () => number = Date.now,
  ) {}

  enqueue(event: OutgoingEvent): void {
    if (SECURITY_EVENT_TYPES.has(event.type)) {
      this.enqueueSecurity(event);
      return;
    }
    if (this.queue.length >= this.limits.maxQueued) {
      this.queue.shift();
      this.dropped += 1;
    }
    this.queue.push(event);
  }

  /**
   * Counts one occurrence of `key` (e.g. a refusal reason) into the peer's
   * tally event of this type. The event carries `count` (occurrences since
   * the last one published), `counts` (by key) and the newest `details`.
   */
  tally(type: string, subject: string, key: string, details: Record<string, unknown>): void {
    const id = `${type} ${subject}`;
    const tally = this.tallies.get(id);
    if (tally === undefined) {
      const last = this.lastTallied.get(id);
      this.tallies.set(id, {
        event: { type, subject, data: details },
        counts: { [key]: 1 },
        total: 1,
        dueAt: last === undefined ? 0 : last + this.limits.tallyIntervalMs,
      });
      return;
    }
    tally.event = { type, subject, data: details };
    tally.counts[key] = (tally.counts[key] ?? 0) + 1;
    tally.total += 1;
    this.coalesced += 1;
  }

  /** Removes and returns at most `max` events: security events first, then tallies that are due, then the oldest others. */
  takeBatch(max: number): OutgoingEvent[] {
    const batch: OutgoingEvent[] = [];
    for (const [id, event] of this.security) {
      if (batch.length >= max) return batch;
      this.security.delete(id);
      batch.push(event);
    }
    const now = this.now();
    for (const [id, last] of this.lastTallied) if (now - last >= this.limits.tallyIntervalMs) this.lastTallied.delete(id);
    for (const [id, tally] of this.tallies) {
      if (batch.length >= max) return batch;
      if (tally.dueAt > now) continue;
      this.tallies.delete(id);
      this.lastTallied.set(id, now);
      batch.push({ ...tally.event, data: { ...tally.event.data, count: tally.total, counts: tally.counts } });
    }
    const taken = this.queue.splice(0, max - batch.length);
    return batch.concat(taken);
  }

  recordPublished(): void {
    this.published += 1;
  }

  recordFailed(): void {
    this.failed += 1;
  }

  stats(): OutboxStats {
    return {
      queued: this.queue.length + this.tallies.size,
      queued_security: this.security.size,
      published: this.published,
      dropped: this.dropped,
      dropped_security: this.droppedSecurity,
      coalesced: this.coalesced,
      failed: this.failed,
    };
  }

  private enqueueSecurity(event: OutgoingEvent): void {
    const id = `${event.type} ${event.subject ?? ''}`;
    if (this.security.has(id)) {
      // The newest facts replace the waiting ones; the entry keeps its place in line.
      this.security.set(id, event);
      this.coalesced += 1;
      return;
    }
    if (this.security.size >= this.limits.maxQueuedSecurity) {
      this.droppedSecurity += 1;
      return;
    }
    this.security.set(id, event);
  }
}
