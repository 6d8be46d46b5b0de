/**
 * The extension can hand events to its host only while answering a call
 * (HOST_PROTOCOL.md): on a host nobody calls, a pairing request would wait
 * unseen. So once no call has run for `intervalMs`, the reference host
 * makes a cheap one itself, and the events queued meanwhile arrive: an
 * event waits at most about `intervalMs` after the last call. Nexus does
 * not do this; under Nexus events arrive with the next plugin call.
 */
export const DEFAULT_EVENT_POLL_MS = 1000;
/** While a call waits for a peer's answer (an A2A request over HTTP), its events are polled for this often. */
export const DEFAULT_HURRIED_POLL_MS = 50;

export class EventPump {
  private timer: NodeJS.Timeout | undefined;
  private lastCallAt = 0;
  private polling = false;
  private running = false;
  private hurries = 0;

  constructor(
    private readonly poll: () => Promise<unknown>,
    private readonly intervalMs = DEFAULT_EVENT_POLL_MS,
    private readonly now: () => number = Date.now,
    private readonly hurriedIntervalMs = DEFAULT_HURRIED_POLL_MS,
  ) {}

  /**
   * Polls every `hurriedIntervalMs` until the returned function is called
   * (once per hurry; several may overlap): a caller waiting on an event
   * hears of it within that time instead of `intervalMs`.
   */
  hurry(): () => void {
    this.hurries += 1;
    this.schedule();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.hurries -= 1;
      this.schedule();
    };
  }

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
    const interval = this.hurries > 0 ? Math.min(this.hurriedIntervalMs, this.intervalMs) : this.intervalMs;
    this.timer = setTimeout(() => void this.tick(), Math.max(0, this.lastCallAt + interval - this.now()));
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
