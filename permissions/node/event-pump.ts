/**
 * The extension can hand events to its host only while answering a call
 * (HOST_PROTOCOL.md): on a host nobody calls, a pairing request would wait
 * unseen. So while no call has run for `intervalMs`, the reference host
 * makes a cheap one itself, and the events queued meanwhile arrive. Nexus
 * does not do this; under Nexus events arrive with the next plugin call.
 */
export const DEFAULT_EVENT_POLL_MS = 1000;

export class EventPump {
  private timer: NodeJS.Timeout | undefined;
  private lastCallAt = 0;
  private polling = false;

  constructor(
    private readonly poll: () => Promise<unknown>,
    private readonly intervalMs = DEFAULT_EVENT_POLL_MS,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Runs a call of the host's and notes it, so that the pump stays quiet while calls come anyway. */
  async around<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } finally {
      this.lastCallAt = Date.now();
    }
  }

  private async tick(): Promise<void> {
    if (this.polling || Date.now() - this.lastCallAt < this.intervalMs) return;
    this.polling = true;
    try {
      await this.around(this.poll);
    } catch {
      // The extension is down or restarting: the supervisor reports that; the next tick tries again.
    } finally {
      this.polling = false;
    }
  }
}
