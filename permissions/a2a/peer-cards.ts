import type { ExtensionRefusal } from '../http/extension-errors';
import type { ObservedEvent } from './answer-signals';
import { isRecord } from './json-values';

/**
 * The agent cards of the trusted peers, for the public card route
 * (`/a2a/<peer>/.well-known/agent-card.json`, read without a token): kept
 * from one `peers` listing and listed again only once an event says a peer
 * changed, so a local program reading cards in a loop does not make an
 * extension call per read. Every pairing made or ended, and every card
 * received from a paired peer, comes as a `p2p.peer.*` event; a restarted
 * extension may have dropped events it had queued, so a restart forgets
 * the listing too.
 */

export type CardLookup =
  | { kind: 'card'; card: Record<string, unknown> }
  | { kind: 'not_paired' }
  | { kind: 'no_card' }
  /** The extension did not answer the listing; nothing is kept. */
  | { kind: 'unavailable'; message: string };

export type ListPeers = () => Promise<{ result?: unknown; error?: ExtensionRefusal }>;

/** The trusted peers, each with its card or null. */
type Listing = Map<string, Record<string, unknown> | null>;

export class PeerCards {
  private listing: Listing | undefined;
  /** The listing under way, shared by the reads that find none kept. */
  private reading: Promise<Listing | { unavailable: string }> | undefined;
  /** Counts forgets, so a listing that began before one is not kept as current. */
  private generation = 0;

  /** `followsEvents` false: nothing will tell this of a change, so nothing is kept and every read lists the peers. */
  constructor(
    private readonly listPeers: ListPeers,
    private readonly followsEvents = true,
  ) {}

  event(event: ObservedEvent): void {
    if (event.type.startsWith('p2p.peer.')) this.forget();
  }

  forget(): void {
    this.generation += 1;
    this.listing = undefined;
    this.reading = undefined;
  }

  async lookup(peer: string): Promise<CardLookup> {
    const listing = this.listing ?? (await this.list());
    if (!(listing instanceof Map)) return { kind: 'unavailable', message: listing.unavailable };
    const card = listing.get(peer);
    if (card === undefined) return { kind: 'not_paired' };
    return card === null ? { kind: 'no_card' } : { kind: 'card', card };
  }

  private list(): Promise<Listing | { unavailable: string }> {
    if (this.reading !== undefined) return this.reading;
    const generation = this.generation;
    const reading = this.read().then((listing) => {
      if (this.reading === reading) this.reading = undefined;
      if (listing instanceof Map && this.followsEvents && generation === this.generation) this.listing = listing;
      return listing;
    });
    this.reading = reading;
    return reading;
  }

  private async read(): Promise<Listing | { unavailable: string }> {
    let outcome: Awaited<ReturnType<ListPeers>>;
    try {
      outcome = await this.listPeers();
    } catch (error) {
      return { unavailable: error instanceof Error ? error.message : String(error) };
    }
    if (outcome.error !== undefined) return { unavailable: outcome.error.message };
    const data = isRecord(outcome.result) ? outcome.result['data'] : undefined;
    const peers = isRecord(data) && Array.isArray(data['peers']) ? data['peers'] : [];
    const listing: Listing = new Map();
    for (const entry of peers) {
      if (!isRecord(entry) || typeof entry['peer'] !== 'string' || entry['state'] !== 'trusted') continue;
      listing.set(entry['peer'], isRecord(entry['agent_card']) ? entry['agent_card'] : null);
    }
    return listing;
  }
}
