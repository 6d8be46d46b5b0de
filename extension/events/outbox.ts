/**
 * Events waiting for the host. Nexus reads our stdout only while one of its
 * own calls is in flight, so events cannot be pushed when they happen: they
 * wait here and the host session hands them over during the next execute.
 * The queue is bounded; when full the oldest event is dropped and counted.
 */
export interface OutgoingEvent {
  /** CloudEvents type, e.g. `p2p.peer.connected`. */
  type: string;
  subject?: string;
  data: Record<string, unknown>;
}

export interface OutboxStats {
  queued: number;
  published: number;
  dropped: number;
  failed: number;
}

export class EventOutbox {
  private queue: OutgoingEvent[] = [];
  private published = 0;
  private dropped = 0;
  private failed = 0;

  constructor(private readonly capacity: number) {}

  enqueue(event: OutgoingEvent): void {
    if (this.queue.length >= this.capacity) {
      this.queue.shift();
      this.dropped += 1;
    }
    this.queue.push(event);
  }

  /** Removes and returns everything queued, oldest first. */
  takeAll(): OutgoingEvent[] {
    const taken = this.queue;
    this.queue = [];
    return taken;
  }

  recordPublished(): void {
    this.published += 1;
  }

  recordFailed(): void {
    this.failed += 1;
  }

  stats(): OutboxStats {
    return { queued: this.queue.length, published: this.published, dropped: this.dropped, failed: this.failed };
  }
}
