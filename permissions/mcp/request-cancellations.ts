import type { RequestId } from '@modelcontextprotocol/sdk/types.js';

/**
 * The cancellations of one MCP session's requests, taken from the
 * transport before the SDK sees them. The SDK would abort the handler and
 * then send no answer at all, which leaves the client's HTTP request (or
 * the stdio bridge's) waiting for good; here the handler's signal aborts,
 * the handler stops early and answers, and the answer is dropped by the
 * client as the answer to a cancelled request.
 *
 * A cancellation can also come after the answer went out: the client gave
 * up just as the answer was on its way, so it never read it. What the
 * answer handed over is then withdrawn (for p2p_get_messages: the messages
 * are not acknowledged, and come again on the next call).
 */
export const DEFAULT_MAX_ANSWERED_REMEMBERED = 32;

/** Why every request of a session was stopped at once: the host is stopping. */
export class HostStopping extends Error {
  override name = 'HostStopping';

  constructor() {
    super('the p2p-comm host is stopping');
  }
}

export class RequestCancellations {
  private readonly running = new Map<RequestId, AbortController>();
  /** Answered requests whose hand-over can still be withdrawn, oldest first. */
  private readonly answered = new Map<RequestId, () => void>();

  /** Only the latest answers can meet a late cancellation; older ones are forgotten. */
  constructor(private readonly maxAnsweredRemembered = DEFAULT_MAX_ANSWERED_REMEMBERED) {}

  /** A request starts; its signal aborts when the client cancels it. */
  begin(id: RequestId): AbortSignal {
    const controller = new AbortController();
    this.running.set(id, controller);
    return controller.signal;
  }

  /** The request was answered; `withdraw`, if given, undoes its hand-over should the client cancel it now. */
  end(id: RequestId, withdraw?: () => void): void {
    this.running.delete(id);
    if (withdraw === undefined) return;
    this.answered.set(id, withdraw);
    if (this.answered.size > this.maxAnsweredRemembered) {
      const oldest = this.answered.keys().next().value;
      if (oldest !== undefined) this.answered.delete(oldest);
    }
  }

  cancel(id: RequestId): void {
    this.running.get(id)?.abort();
    const withdraw = this.answered.get(id);
    this.answered.delete(id);
    withdraw?.();
  }

  /** The session ends: every request still running stops, told why (`reason`, its signal's reason). */
  cancelAll(reason: unknown): void {
    for (const controller of this.running.values()) controller.abort(reason);
    this.running.clear();
    this.answered.clear();
  }
}
