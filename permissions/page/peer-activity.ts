import type { ExtensionEvent } from '../host/process-manager';

/**
 * The latest messages to and from each peer, as metadata only (direction,
 * type, size, state, time), for the web page. Content is never kept here: the
 * page asks the extension for a received message's content only when the
 * person opens it. Bounded per peer and in peers.
 */
export type ActivityState = 'received' | 'sent' | 'delivered' | 'expired' | 'failed';

export interface ActivityEntry {
  direction: 'in' | 'out';
  messageId: string;
  type: string;
  /** Bytes of content. */
  size: number;
  state: ActivityState;
  /** Milliseconds since the epoch, when this host saw it. */
  at: number;
  /** For a received message: where `receive` finds it, while no plugin has acknowledged it. */
  cursor?: number;
  /** For a failed message: why. */
  reason?: string;
}

export interface PeerActivityOptions {
  perPeer?: number;
  peers?: number;
  now?: () => number;
}

export const DEFAULT_ACTIVITY_PER_PEER = 20;
export const DEFAULT_ACTIVITY_PEERS = 1000;

const OUTCOMES: Record<string, ActivityState> = {
  'p2p.message.delivered': 'delivered',
  'p2p.message.expired': 'expired',
  'p2p.message.failed': 'failed',
};

export class PeerActivity {
  /** Peer -> entries, newest last; map order is least recently active first. */
  private readonly byPeer = new Map<string, ActivityEntry[]>();
  private readonly perPeer: number;
  private readonly peers: number;
  private readonly now: () => number;

  constructor(options: PeerActivityOptions = {}) {
    this.perPeer = options.perPeer ?? DEFAULT_ACTIVITY_PER_PEER;
    this.peers = options.peers ?? DEFAULT_ACTIVITY_PEERS;
    this.now = options.now ?? Date.now;
  }

  /** Newest first. */
  recent(peer: string): readonly ActivityEntry[] {
    return [...(this.byPeer.get(peer) ?? [])].reverse();
  }

  /** Follows the extension's message events. */
  event(event: ExtensionEvent): void {
    const data = event.data as Record<string, unknown> | null;
    if (data === null || typeof data !== 'object') return;
    const peer = data['peer'];
    const messageId = data['message_id'];
    if (typeof peer !== 'string' || typeof messageId !== 'string') return;
    if (event.type === 'p2p.message.received') {
      const { type, size } = data;
      // Without them the row would read "undefined, NaN B".
      if (typeof type !== 'string' || typeof size !== 'number') return;
      this.add(peer, {
        direction: 'in',
        messageId,
        type,
        size,
        state: 'received',
        at: this.now(),
        ...(typeof data['cursor'] === 'number' ? { cursor: data['cursor'] } : {}),
      });
      return;
    }
    const outcome = Object.hasOwn(OUTCOMES, event.type) ? OUTCOMES[event.type] : undefined;
    const sent = this.byPeer.get(peer)?.find((entry) => entry.direction === 'out' && entry.messageId === messageId);
    if (outcome === undefined || sent === undefined) return;
    sent.state = outcome;
    if (typeof data['reason'] === 'string') sent.reason = data['reason'];
  }

  /** Follows the calls plugins make: a `send` the extension took is a message to that peer, of the size it reports. */
  call(operation: string, input: unknown, result: unknown): void {
    if (operation !== 'send' || typeof input !== 'object' || input === null) return;
    const { peer, type } = input as Record<string, unknown>;
    const data = (result as { data?: { message_id?: unknown; size?: unknown } } | undefined)?.data;
    if (typeof peer !== 'string' || typeof data?.message_id !== 'string' || typeof data.size !== 'number') return;
    this.add(peer, { direction: 'out', messageId: data.message_id, type: String(type), size: data.size, state: 'sent', at: this.now() });
  }

  private add(peer: string, entry: ActivityEntry): void {
    const entries = this.byPeer.get(peer) ?? [];
    this.byPeer.delete(peer);
    entries.push(entry);
    if (entries.length > this.perPeer) entries.shift();
    this.byPeer.set(peer, entries);
    if (this.byPeer.size > this.peers) {
      const quietest = this.byPeer.keys().next().value;
      if (quietest !== undefined) this.byPeer.delete(quietest);
    }
  }
}
