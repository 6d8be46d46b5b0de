/**
 * Tells a long poll that a message it may read has arrived, so that it
 * waits in the host rather than in a `receive` held open in the extension
 * (which answers one call at a time: a receive waiting there holds every
 * other caller). It follows the extension's `p2p.message.received` events,
 * which reach the host with the answers to its calls; while nothing else
 * calls, the event pump makes one every second (permissions/node/event-pump.ts).
 *
 * A poll arms an Arrival for its peers before it reads them, and waits on
 * it only if those reads found nothing: the event of a message stored while
 * the extension was answering one of the reads comes with that answer, after
 * the read, and still ends the wait.
 *
 * Events can be lost (the extension drops its oldest queued events beyond
 * its queue limit), so an arrival is a hint: a poll reads again after a
 * while even when none came.
 */

/** What an event from the extension carries; only message arrivals matter here. */
export interface PublishedEvent {
  type: string;
  data: unknown;
}

/** Why a wait ended: a message from an armed peer, its time ran out, or the waiter gave up (abort or cancel). */
export type WaitEnd = 'arrived' | 'elapsed' | 'cancelled';

export interface Arrival {
  /**
   * Resolves at once if a message from one of the armed peers arrived
   * since arming, else on the next such arrival, after `ms`, or when
   * `signal` aborts. An arrival waits once: when the wait ends it is
   * unregistered, and the next round of reads arms a new one.
   */
  wait(ms: number, signal: AbortSignal): Promise<WaitEnd>;
  /** Unregisters it, ending a wait in progress; nothing happens if it already ended. */
  cancel(): void;
}

export interface ArrivalSource {
  /** Starts noting arrivals from `peers`; call before reading them. */
  arm(peers: readonly string[]): Arrival;
}

export interface MessageArrivalsOptions {
  /**
   * Arrivals registered at once. Every event is checked against each of
   * them; beyond this an arrival is not registered and its wait only ends
   * after its time or when cancelled, so that poll falls back to reading
   * on its own schedule.
   */
  maxArmed?: number;
}

/** The MCP endpoint holds at most 64 sessions: this leaves each of them several polls at once. */
export const DEFAULT_MAX_ARMED = 256;

export class MessageArrivals implements ArrivalSource {
  private readonly armed = new Set<PeerArrival>();
  private readonly maxArmed: number;

  constructor(options: MessageArrivalsOptions = {}) {
    this.maxArmed = options.maxArmed ?? DEFAULT_MAX_ARMED;
  }

  /** Arrivals registered now. */
  get armedCount(): number {
    return this.armed.size;
  }

  /** Every event the extension publishes. */
  event(event: PublishedEvent): void {
    const peer = arrivedFrom(event);
    if (peer === undefined) return;
    for (const arrival of this.armed) arrival.arrived(peer);
  }

  arm(peers: readonly string[]): Arrival {
    if (this.armed.size >= this.maxArmed) return new PeerArrival(new Set(), () => undefined);
    const arrival = new PeerArrival(new Set(peers), () => this.armed.delete(arrival));
    this.armed.add(arrival);
    return arrival;
  }
}

class PeerArrival implements Arrival {
  private seen = false;
  private waited = false;
  private end: ((why: WaitEnd) => void) | undefined;

  constructor(
    private readonly peers: ReadonlySet<string>,
    private readonly unregister: () => void,
  ) {}

  arrived(peer: string): void {
    if (!this.peers.has(peer)) return;
    this.seen = true;
    this.end?.('arrived');
  }

  wait(ms: number, signal: AbortSignal): Promise<WaitEnd> {
    if (this.waited) throw new Error('an arrival waits once: arm a new one for the next round of reads');
    this.waited = true;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (why: WaitEnd): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.end = undefined;
        this.unregister();
        resolve(why);
      };
      const onAbort = (): void => finish('cancelled');
      this.end = finish;
      if (this.seen) return finish('arrived');
      if (signal.aborted) return finish('cancelled');
      timer = setTimeout(() => finish('elapsed'), ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  cancel(): void {
    this.unregister();
    this.end?.('cancelled');
  }
}

/** The sender of a message the extension stored, from its `p2p.message.received` event. */
function arrivedFrom(event: PublishedEvent): string | undefined {
  if (event.type !== 'p2p.message.received' || typeof event.data !== 'object' || event.data === null) return undefined;
  const peer = (event.data as Record<string, unknown>)['peer'];
  return typeof peer === 'string' ? peer : undefined;
}
