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
/**
 * How long one hurry lasts. A peer's agent that answers at all usually
 * does within seconds of the request or of its previous answer; one that
 * works longer is heard of at the normal poll, a second later at most,
 * and a stream left open for hours does not keep the extension polled 20
 * times a second.
 */
export const DEFAULT_HURRY_WINDOW_MS = 10_000;

export class EventPump {
  private timer: NodeJS.Timeout | undefined;
  private lastCallAt = 0;
  private polling = false;
  private running = false;
  /** Each hurry not yet released, with the time its window closes. */
  private readonly hurries = new Set<{ until: number }>();

  constructor(
    private readonly poll: () => Promise<unknown>,
    private readonly intervalMs = DEFAULT_EVENT_POLL_MS,
    private readonly now: () => number = Date.now,
    private readonly hurriedIntervalMs = DEFAULT_HURRIED_POLL_MS,
    private readonly hurryWindowMs = DEFAULT_HURRY_WINDOW_MS,
  ) {}

  /**
   * Polls every `hurriedIntervalMs` for `hurryWindowMs`, or until the
   * returned function is called (several hurries may overlap): a caller
   * waiting on an event hears of it within that time instead of
   * `intervalMs`. A caller still waiting after the window hurries again
   * when something tells it more may come soon.
   */
  hurry(): () => void {
    const hurry = { until: this.now() + this.hurryWindowMs };
    this.hurries.add(hurry);
    this.schedule();
    return () => {
      if (this.hurries.delete(hurry)) this.schedule();
    };
  }

  /** Whether a hurry's window is open now. */
  get hurried(): boolean {
    const now = this.now();
    return [...this.hurries].some((hurry) => hurry.until > now);
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
    const interval = this.hurried ? Math.min(this.hurriedIntervalMs, this.intervalMs) : this.intervalMs;
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
