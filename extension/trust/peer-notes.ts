import { join } from 'node:path';
import { SCHEMA_FORBIDDEN_CLASS } from '../common/display-name';
import { closedObject, StateFileFormat, TIME_SCHEMA } from '../common/json-state-file';
import { P2pError } from '../common/errors';
import { PEER_ID_PATTERN } from '../common/peer-id';

/**
 * The person's own note about a peer (an alias, who it is, how they met):
 * kept on this node only, never sent, never shown to a plugin as the peer's
 * claim. It has its own file rather than a field in the trust store: an
 * earlier p2p-comm refuses a trust store with a field it does not know, and
 * moving that file away would forget every paired peer.
 */
export const PEER_NOTES_FILE_NAME = 'peer_notes.json';

export interface PeerNoteLimits {
  /** Longest note, in characters. */
  maxNoteLength: number;
  /** Most peers with a note; each is a paired peer, so this is far above any real count. */
  maxNotes: number;
}

export const DEFAULT_PEER_NOTE_LIMITS: PeerNoteLimits = { maxNoteLength: 200, maxNotes: 10_000 };

/**
 * The characters a note may not hold: those that act on a terminal or
 * change how the text around them reads (controls, format and
 * default-ignorable characters, line and paragraph separators), since the
 * reference host prints notes on a terminal.
 */
export const PEER_NOTE_PATTERN = `^[^${SCHEMA_FORBIDDEN_CLASS}]*$`;

interface NoteEntry {
  note: string;
  updated_at: string;
}

interface NotesFile {
  version: 1;
  notes: Record<string, NoteEntry>;
}

const NOTES_FILE = new StateFileFormat<NotesFile>({
  name: 'the peer notes file',
  movingAwayMeans: 'forget your notes about peers (the pairings themselves are kept elsewhere)',
  schema: closedObject({
    version: { const: 1 },
    notes: {
      type: 'object',
      propertyNames: { pattern: PEER_ID_PATTERN.source },
      additionalProperties: closedObject({ note: { type: 'string', minLength: 1, pattern: PEER_NOTE_PATTERN }, updated_at: TIME_SCHEMA }),
    },
  }),
});

const NOTE_CHARACTERS = new RegExp(PEER_NOTE_PATTERN, 'u');

export class PeerNotes {
  private constructor(
    private readonly path: string,
    private readonly notes: Map<string, NoteEntry>,
    private readonly limits: PeerNoteLimits,
  ) {}

  static open(dataDir: string, limits: Partial<PeerNoteLimits> = {}): PeerNotes {
    const path = join(dataDir, PEER_NOTES_FILE_NAME);
    const file = NOTES_FILE.load(path);
    return new PeerNotes(path, new Map(Object.entries(file?.notes ?? {})), { ...DEFAULT_PEER_NOTE_LIMITS, ...limits });
  }

  get(peerId: string): string | null {
    return this.notes.get(peerId)?.note ?? null;
  }

  /** Sets the note, or removes it when `note` is null or empty; written before it returns. */
  set(peerId: string, note: string | null, now = new Date()): void {
    if (note === null || note === '') {
      this.remove(peerId);
      return;
    }
    if ([...note].length > this.limits.maxNoteLength) {
      throw new P2pError('INVALID_INPUT', `a note may hold at most ${this.limits.maxNoteLength} characters`);
    }
    if (!NOTE_CHARACTERS.test(note)) {
      throw new P2pError('INVALID_INPUT', 'a note may not hold control, line-separator, text-direction, zero-width or invisible characters');
    }
    if (!this.notes.has(peerId) && this.notes.size >= this.limits.maxNotes) {
      throw new P2pError('LIMIT_REACHED', `there are already notes about ${this.limits.maxNotes} peers; remove some first`);
    }
    const next = new Map(this.notes).set(peerId, { note, updated_at: now.toISOString() });
    this.save(next);
  }

  remove(peerId: string): void {
    if (!this.notes.has(peerId)) return;
    const next = new Map(this.notes);
    next.delete(peerId);
    this.save(next);
  }

  /** Memory changes only once the file holds the change: a failed write leaves both as they were. */
  private save(next: Map<string, NoteEntry>): void {
    NOTES_FILE.save(this.path, { version: 1, notes: Object.fromEntries(next) });
    this.notes.clear();
    for (const [peerId, entry] of next) this.notes.set(peerId, entry);
  }
}
