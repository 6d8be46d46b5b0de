import { join } from 'node:path';
import { closedObject, nullable, StateFileFormat, TIME_SCHEMA } from '../common/json-state-file';
import { firstJsonProblem } from '../common/json-value';
import { PEER_ID_PATTERN } from '../common/peer-id';
import { canonicalJson } from '../wire/jcs';
import { type AgentCard, type AgentCardLimits, maxCardDepth, normalizeAgentCard } from './agent-card';
import { decodeCard, type SignedAgentCard } from './signed-card';

/**
 * This node's own agent card, and the cards peers sent: those of paired
 * peers (from their sessions) and those that came with a pending pairing
 * request. A peer's card is state, not history: only its latest is kept,
 * and it goes with the pairing or the request (the owner of the store
 * says which peers to keep).
 *
 * File `<data_dir>/a2a_cards.json`, mode 0600, replaced atomically on
 * every change, and only on a change (a card sent again at every
 * reconnect writes nothing):
 *
 *   {"version": 1,
 *    "own": {"card": <normalized card>, "updated_at": "<ISO>"} | null,
 *    "peers": {"<peer id>": {"card": <signed card> | null, "received_at": "<ISO>", "changes": 0}}}
 *
 * A peer's `card` is null only for a requester that withdrew the card its
 * request showed; `changes` counts how often a requester's card changed
 * while its request waited (a paired peer's cards are not counted).
 *
 * What the file holds is checked again when it is opened, with the rules
 * cards are received by: a card that no longer passes (the limits were
 * lowered since) is dropped with a note; peers send theirs again at their
 * next session, and a plugin sets this node's again.
 */
export const CARDS_FILE_NAME = 'a2a_cards.json';

export interface StoredPeerCard {
  /** null: a requester withdrew the card its request arrived with. */
  readonly card: SignedAgentCard | null;
  readonly receivedAt: Date;
  /** How often a pending request's card changed since the first one arrived. */
  readonly changes: number;
}

interface PeerEntry {
  card: SignedAgentCard | null;
  received_at: string;
  changes: number;
}

interface CardsFile {
  version: 1;
  own: { card: AgentCard; updated_at: string } | null;
  peers: Record<string, PeerEntry>;
}

const CARDS_FILE = new StateFileFormat<CardsFile>({
  name: 'the agent cards file',
  movingAwayMeans: 'forget the agent cards peers sent (each sends its own again when it next connects) and this node’s own card (set it again with a2a_set_card)',
  schema: closedObject({
    version: { const: 1 },
    // The cards' own rules are those they are received by, checked once the file is read.
    own: nullable(closedObject({ card: { type: 'object' }, updated_at: TIME_SCHEMA }) as { type: string }),
    peers: {
      type: 'object',
      propertyNames: { pattern: PEER_ID_PATTERN.source },
      additionalProperties: closedObject({ card: { type: ['object', 'null'] }, received_at: TIME_SCHEMA, changes: { type: 'integer', minimum: 0 } }),
    },
  }),
});

/** How a card a peer sent compares with the one kept for it. */
export type RecordOutcome = 'unchanged' | 'new' | 'changed';

export class CardStore {
  private constructor(
    private readonly path: string,
    private file: CardsFile,
    /** What opening dropped, for the log. */
    readonly upgradeNotes: readonly string[],
  ) {}

  static open(dataDir: string, limits: AgentCardLimits): CardStore {
    const path = join(dataDir, CARDS_FILE_NAME);
    const loaded = CARDS_FILE.load(path) ?? { version: 1, own: null, peers: {} };
    const notes: string[] = [];
    const file = withoutUnacceptable(loaded, limits, (note) => notes.push(`${CARDS_FILE_NAME}: ${note}`));
    const store = new CardStore(path, file, notes);
    if (notes.length > 0) store.commit(file);
    return store;
  }

  ownCard(): AgentCard | null {
    return this.file.own?.card ?? null;
  }

  /** Returns false when the card was already this one (nothing written). */
  setOwnCard(card: AgentCard | null, now = new Date()): boolean {
    if (sameValue(card, this.ownCard())) return false;
    this.commit({ ...this.file, own: card === null ? null : { card, updated_at: now.toISOString() } });
    return true;
  }

  peerCard(peerId: string): StoredPeerCard | undefined {
    const entry = this.file.peers[peerId];
    return entry === undefined ? undefined : { card: entry.card, receivedAt: new Date(entry.received_at), changes: entry.changes };
  }

  /**
   * Keeps what a peer sent as its latest card. With `countChanges` (a
   * pending request's card) a card unlike the one kept counts as a change;
   * otherwise the count starts over.
   */
  record(peerId: string, card: SignedAgentCard | null, countChanges: boolean, now = new Date()): RecordOutcome {
    const kept = this.file.peers[peerId];
    if (kept === undefined && card === null) return 'unchanged';
    const sameCard = kept !== undefined && sameValue(kept.card, card);
    const changes = countChanges && kept !== undefined ? kept.changes + (sameCard ? 0 : 1) : 0;
    if (sameCard && kept.changes === changes) return 'unchanged';
    // A paired peer that withdraws its card has none; only a request keeps the trace of one.
    const peers = { ...this.file.peers };
    if (card === null && !countChanges) delete peers[peerId];
    else peers[peerId] = { card, received_at: now.toISOString(), changes };
    this.commit({ ...this.file, peers });
    // The same card, once paired: only the count of the request's changes starts over.
    if (sameCard) return 'unchanged';
    return kept === undefined ? 'new' : 'changed';
  }

  remove(peerId: string): void {
    if (this.file.peers[peerId] === undefined) return;
    const peers = { ...this.file.peers };
    delete peers[peerId];
    this.commit({ ...this.file, peers });
  }

  /** Drops the cards of every peer `keep` refuses: those no longer paired, and requests answered or expired. */
  retainOnly(keep: (peerId: string) => boolean): void {
    const gone = Object.keys(this.file.peers).filter((peerId) => !keep(peerId));
    if (gone.length === 0) return;
    const peers = { ...this.file.peers };
    for (const peerId of gone) delete peers[peerId];
    this.commit({ ...this.file, peers });
  }

  /** The file is written first, so a failed write leaves memory and disk alike. */
  private commit(next: CardsFile): void {
    CARDS_FILE.save(this.path, next);
    this.file = next;
  }
}

/** The file with every card that fails today's rules left out, each with a note. */
function withoutUnacceptable(file: CardsFile, limits: AgentCardLimits, note: (text: string) => void): CardsFile {
  let own = file.own;
  if (own !== null && !isNormalized(own.card, limits)) {
    note('this node’s own agent card no longer follows the card rules and was dropped; set it again with a2a_set_card');
    own = null;
  }
  const peers: Record<string, PeerEntry> = {};
  for (const [peerId, entry] of Object.entries(file.peers)) {
    if (entry.card !== null && !passesReceivingChecks(entry.card, peerId, limits)) {
      note(`the agent card of ${peerId} no longer passes the checks cards are received by and was dropped; the peer sends it again`);
    } else {
      peers[peerId] = entry;
    }
  }
  return { version: 1, own, peers };
}

/** As if the peer had just sent it; the file may hold anything JSON can (lone surrogates, deep nesting), so it is sent as JSON text. */
function passesReceivingChecks(card: unknown, peerId: string, limits: AgentCardLimits): boolean {
  if (firstJsonProblem(card, maxCardDepth(limits)) !== null) return false;
  return typeof decodeCard(Buffer.from(JSON.stringify(card), 'utf8'), peerId, limits) === 'object';
}

function isNormalized(card: unknown, limits: AgentCardLimits): boolean {
  try {
    return sameValue(normalizeAgentCard(card, limits), card);
  } catch {
    return false;
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
