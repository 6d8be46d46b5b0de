import { isRecord } from './json-values';

/**
 * Tells a waiting HTTP call that something happened to its A2A request,
 * from the events the extension publishes: an answer recorded
 * (`p2p.a2a.answer`), the request's envelope delivered, expired or failed
 * (the request id is the envelope's message id), or the pairing with its
 * peer ended. The waiter then reads what changed with `a2a_task`; the
 * event itself carries no content.
 */

export interface ObservedEvent {
  type: string;
  data: unknown;
}

/** Ends a pairing, so a request to that peer will get no answer. */
const PAIRING_ENDED = new Set(['p2p.peer.revoked', 'p2p.peer.revoked_by_peer']);

interface Waiter {
  peer: string;
  requestId: string;
  wake(): void;
}

export class AnswerSignals {
  private readonly waiters = new Set<Waiter>();

  event(event: ObservedEvent): void {
    const data = isRecord(event.data) ? event.data : {};
    const named = typeof data['request_id'] === 'string' ? data['request_id'] : data['message_id'];
    const peer = data['peer'];
    for (const waiter of [...this.waiters]) {
      if (waiter.requestId === named || (PAIRING_ENDED.has(event.type) && waiter.peer === peer)) waiter.wake();
    }
  }

  /**
   * Resolves at the next event about the request. Taken before reading the
   * request's state, so an event that comes while the read runs is not
   * missed; `cancel` when done waiting.
   */
  next(peer: string, requestId: string): { changed: Promise<void>; cancel(): void } {
    let waiter!: Waiter;
    const changed = new Promise<void>((resolve) => {
      waiter = {
        peer,
        requestId,
        wake: () => {
          this.waiters.delete(waiter);
          resolve();
        },
      };
    });
    this.waiters.add(waiter);
    return { changed, cancel: () => void this.waiters.delete(waiter) };
  }
}
