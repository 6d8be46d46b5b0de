/**
 * The extension can hand events to its host only while answering a call
 * (HOST_PROTOCOL.md): on a host nobody calls, a pairing request would wait
 * unseen. So once no call has run for `intervalMs`, the reference host
 * makes a cheap one itself, and the events queued meanwhile arrive: an
 * event waits at most about `intervalMs` after the last call. Nexus does
 * not do this; under Nexus events arrive with the next plugin call.
 */
export const DEFAULT_EVENT_POLL_MS = 1000;

export class EventPump {
  private timer: NodeJS.Timeout | undefined;
  private lastCallAt = 0;
  private polling = false;
  private running = false;

  constructor(
    private readonly poll: () => Promise<unknown>,
    private readonly intervalMs = DEFAULT_EVENT_POLL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.running) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Runs a call of the host's and notes it: the pump's own call comes `intervalMs` after the last one, and not before. */
  async around<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } finally {
      this.lastCallAt = this.now();
      this.schedule();
    }
  }

  private schedule(): void {
    if (!this.running || this.polling) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), Math.max(0, this.lastCallAt + this.intervalMs - this.now()));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.polling = true;
    try {
      await this.poll();
    } catch {
      // The extension is down or restarting: the supervisor reports that; the next tick tries again.
    } finally {
      this.polling = false;
      this.lastCallAt = this.now();
      this.schedule();
    }
  }
}
