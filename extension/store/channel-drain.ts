/**
 * Runs a service's reading of its inbox channel, one run per peer at a
 * time, so that a peer's messages are taken in cursor order. The services
 * beside messaging (A2A, files, groups) each read their own channel this
 * way and ack what they recorded.
 */
export class ChannelDrain {
  private readonly running = new Map<string, Promise<void>>();
  /** Peers with a message stored while their run was under way. */
  private readonly again = new Set<string>();
  private closed = false;

  /**
   * `drainAll` reads the peer's channel until it is empty; a failure it
   * throws goes to `onFailure` (what is not acked stays in the inbox and
   * is read at the next start or the next message).
   */
  constructor(
    private readonly drainAll: (peerId: string) => Promise<void>,
    private readonly onFailure: (peerId: string, error: Error) => void,
  ) {}

  /** Reads the peer's channel now, or once more after the run under way. */
  schedule(peerId: string): void {
    if (this.closed) return;
    if (this.running.has(peerId)) {
      // The running read may have found the channel empty just before this message.
      this.again.add(peerId);
      return;
    }
    const run = this.drainAll(peerId)
      .catch((error: unknown) => this.onFailure(peerId, error instanceof Error ? error : new Error(String(error))))
      .finally(() => {
        this.running.delete(peerId);
        if (this.again.delete(peerId)) this.schedule(peerId);
      });
    this.running.set(peerId, run);
  }

  /** A run is under way. */
  get busy(): boolean {
    return this.running.size > 0;
  }

  /** Resolves once no run is under way, including runs scheduled again meanwhile. */
  async whenIdle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  /** No run starts from now on; resolves once those under way ended. */
  close(): Promise<void> {
    this.closed = true;
    this.again.clear();
    return this.whenIdle();
  }
}
