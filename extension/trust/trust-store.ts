import { join } from 'node:path';
import { P2pError } from '../common/errors';
import { DISPLAY_NAME_PATTERN, validateDisplayName } from '../common/display-name';
import { cachedPublicKeyFromPeerId, PEER_ID_PATTERN, peerIdFromPublicKey } from '../common/peer-id';
import {
  ADDRESS_SCHEMA,
  closedObject,
  nullable,
  partChecker,
  PUBLIC_KEY_SCHEMA,
  StateFileFormat,
  TIME_SCHEMA,
} from '../common/json-state-file';
import { replaceLegacyNames } from './legacy-names';
import { isDhtAddress } from '../common/dht-address';
import { decodeKeyChain, describeKeyChainRefusal, encodeRotationStatement, KeyChainFormatError, MAX_KEY_CHAIN_BYTES, verifyKeyChain, type KeyChainRefusal, type RotationStatement } from '../wire/key-rotation';
import { keyChainToText, storedKeyProblem } from '../wire/stored-key-chain';

/**
 * The peers this node has paired with (trust on first use): the key of a
 * peer is pinned when pairing is accepted. A peer id names the peer's first
 * key (its root); the pinned key moves on only along the peer's key chain
 * (docs/protocol.md §19), each step signed by the key before it, so the
 * peer id stays. A connection that claims a known peer but presents a key
 * the chain does not certify is refused, and the presented key is kept as
 * evidence under `refused_keys`.
 *
 * File `<data_dir>/trusted_peers.json`, mode 0600, replaced atomically on
 * every change (a connection's traces, last_seen and the address and name
 * it came with, within TrustStoreOptions.seenWriteDelayMs):
 *
 *   {"version": 1, "peers": {"<peer id>": {
 *     "public_key": "<base64>", "display_name": "...",
 *     "addresses": ["host:port", ...],      // at most 8, most recent first
 *     "state": "trusted" | "revoked" | "revoked_by_peer",
 *     "first_seen": "<ISO>", "last_seen": "<ISO>" | null,
 *     "trusted_at": "<ISO>", "revoked_at": "<ISO>" | null,   // when the current state began, unless "trusted"
 *     "key_history": [{"public_key": "<base64>", "pinned_at": "<ISO>", "retired_at"?: "<ISO>"}],
     "key_chain"?: "<base64 key chain>",   // root to public_key; only once the peer rotated
 *     "refused_keys": [{"public_key": "<base64>", "seen_at": "<ISO>", "address": "host:port" | null}]
 *   }}}                                      // refused_keys: the 16 most recent, oldest first
 *
 * `key_chain` and `retired_at` appear only once a peer rotated its key:
 * older builds check this file against a closed schema and would refuse it
 * whole for a field they do not know, so an unrotated peer's entry is
 * written exactly as they wrote it.
 *
 * `revoked`: this node's user revoked the peer. `revoked_by_peer`: the peer
 * told us, authenticated, that its user revoked this node; we stop reaching
 * out, as it would refuse us anyway. Either way only a new pairing, with
 * both people's consent, makes the peer trusted again; a file from before
 * `revoked_by_peer` existed reads as it is.
 */
export type TrustState = 'trusted' | 'revoked' | 'revoked_by_peer';

export interface PinnedKey {
  readonly publicKey: Uint8Array;
  readonly pinnedAt: Date;
  /** When a key of the chain replaced it; null for the current key. */
  readonly retiredAt: Date | null;
}

export interface RefusedKey {
  readonly publicKey: Uint8Array;
  readonly seenAt: Date;
  readonly address: string | null;
}

export interface TrustedPeerRecord {
  readonly peerId: string;
  readonly publicKey: Uint8Array;
  readonly displayName: string;
  readonly addresses: readonly string[];
  readonly state: TrustState;
  readonly firstSeen: Date;
  readonly lastSeen: Date | null;
  readonly trustedAt: Date;
  readonly revokedAt: Date | null;
  readonly keyHistory: readonly PinnedKey[];
  readonly refusedKeys: readonly RefusedKey[];
  /** Root to publicKey; empty while the peer never rotated. */
  readonly keyChain: readonly RotationStatement[];
}

/**
 * Why a key chain was not applied: it does not verify in itself
 * (`invalid_<refusal>`), it belongs to another identity (`other_root`), it
 * ends at a key the peer already left (`older_chain`), or it holds another
 * statement than the known chain at some seq (`conflict`: one of the two
 * was signed by a stolen key).
 */
export type KeyChainApplyRefusal = `invalid_${KeyChainRefusal}` | 'other_root' | 'older_chain' | 'conflict';

export type KeyChainApplied =
  | { ok: true; changed: boolean; record: TrustedPeerRecord }
  | { ok: false; refusal: KeyChainApplyRefusal; message: string };

export interface TrustRequest {
  /** The peer's current key; its peer id is the one this key names, or keyChain's root. */
  publicKey: Uint8Array;
  /** Root to publicKey, already verified, for a peer that rotated; absent or empty otherwise. */
  keyChain?: readonly RotationStatement[];
  displayName: string;
  /** Most recent first. */
  addresses: readonly string[];
}

export interface SeenUpdate {
  address?: string;
  displayName?: string;
}

export const TRUST_FILE_NAME = 'trusted_peers.json';
export const MAX_PEER_ADDRESSES = 8;
export const MAX_REFUSED_KEYS = 16;

interface PeerEntry {
  public_key: string;
  display_name: string;
  addresses: string[];
  state: TrustState;
  first_seen: string;
  last_seen: string | null;
  trusted_at: string;
  revoked_at: string | null;
  key_history: { public_key: string; pinned_at: string; retired_at?: string }[];
  refused_keys: { public_key: string; seen_at: string; address: string | null }[];
  key_chain?: string;
}

interface TrustFile {
  version: 1;
  peers: Record<string, PeerEntry>;
}

/** All but key_chain, which only a rotated peer has. */
const REQUIRED_PEER_FIELDS = ['public_key', 'display_name', 'addresses', 'state', 'first_seen', 'last_seen', 'trusted_at', 'revoked_at', 'key_history', 'refused_keys'];

const PEER_ENTRY_SCHEMA = closedObject({
  public_key: PUBLIC_KEY_SCHEMA,
  display_name: { type: 'string', pattern: DISPLAY_NAME_PATTERN.source },
  addresses: { type: 'array', maxItems: MAX_PEER_ADDRESSES, uniqueItems: true, items: ADDRESS_SCHEMA },
  state: { enum: ['trusted', 'revoked', 'revoked_by_peer'] },
  first_seen: TIME_SCHEMA,
  last_seen: nullable(TIME_SCHEMA),
  trusted_at: TIME_SCHEMA,
  revoked_at: nullable(TIME_SCHEMA),
  key_history: {
    type: 'array',
    minItems: 1,
    items: closedObject({ public_key: PUBLIC_KEY_SCHEMA, pinned_at: TIME_SCHEMA, retired_at: TIME_SCHEMA }, ['public_key', 'pinned_at']),
  },
  refused_keys: {
    type: 'array',
    maxItems: MAX_REFUSED_KEYS,
    items: closedObject({
      public_key: PUBLIC_KEY_SCHEMA,
      seen_at: TIME_SCHEMA,
      address: nullable(ADDRESS_SCHEMA),
    }),
  },
  key_chain: { type: 'string', maxLength: 4 * Math.ceil(MAX_KEY_CHAIN_BYTES / 3) },
}, REQUIRED_PEER_FIELDS);

/** A seen update is checked when it is made: the write that carries it comes later, and must not fail on it. */
const peerEntryProblem = partChecker(PEER_ENTRY_SCHEMA);

const TRUST_FILE = new StateFileFormat<TrustFile>({
  name: 'the trust store',
  movingAwayMeans: 'start with no paired peers (each of them will then have to pair again)',
  schema: closedObject({
    version: { const: 1 },
    peers: {
      type: 'object',
      propertyNames: { pattern: PEER_ID_PATTERN.source },
      additionalProperties: PEER_ENTRY_SCHEMA,
    },
  }),
  check: (file) => {
    for (const [peerId, entry] of Object.entries(file.peers)) {
      const problem = storedKeyProblem(peerId, entry.public_key, entry.key_chain);
      if (problem !== undefined) return problem;
    }
    return undefined;
  },
  upgrade: (file) => replaceLegacyNames(file, ['peers']),
});

/** How stale the last_seen time on disk may get while a peer keeps connecting. */
export const LAST_SEEN_WRITE_INTERVAL_MS = 60_000;

export interface TrustStoreOptions {
  /**
   * How long the traces of connections (last_seen, a new address or name)
   * wait in memory before one write of the file takes all of them: with
   * 1,000 peers reconnecting after a restart, a write per connection is
   * 1,000 writes of a file that holds all 1,000.
   */
  seenWriteDelayMs: number;
  /** A delayed write failed; the traces stay in memory and the next connection tries again. */
  onSeenWriteError: (error: Error) => void;
}

export const DEFAULT_SEEN_WRITE_DELAY_MS = 1000;

const DEFAULT_TRUST_STORE_OPTIONS: TrustStoreOptions = {
  seenWriteDelayMs: DEFAULT_SEEN_WRITE_DELAY_MS,
  onSeenWriteError: () => undefined,
};

export class TrustStore {
  /** last_seen as last written to the file, per peer. */
  private readonly writtenLastSeen = new Map<string, string | null>();
  /** Whether memory holds connection traces that are due on disk. */
  private seenUnwritten = false;
  private seenWrite: NodeJS.Timeout | null = null;
  /** Each peer's current key as bytes, with the stored text it was decoded from (a rotation changes that text). */
  private readonly decodedKeys = new Map<string, { encoded: string; key: Uint8Array }>();

  private constructor(
    private readonly path: string,
    private readonly peers: Map<string, PeerEntry>,
    /** What opening changed in a file an earlier p2p-comm wrote (already written back), for the log. */
    readonly upgradeNotes: readonly string[],
    private readonly options: TrustStoreOptions,
  ) {
    for (const [peerId, entry] of peers) this.writtenLastSeen.set(peerId, entry.last_seen);
  }

  static open(dataDir: string, options: Partial<TrustStoreOptions> = {}): TrustStore {
    const path = join(dataDir, TRUST_FILE_NAME);
    const notes: string[] = [];
    const file = TRUST_FILE.load(path, (note) => notes.push(note));
    return new TrustStore(path, new Map(Object.entries(file?.peers ?? {})), notes, { ...DEFAULT_TRUST_STORE_OPTIONS, ...options });
  }

  get(peerId: string): TrustedPeerRecord | undefined {
    const entry = this.peers.get(peerId);
    return entry === undefined ? undefined : recordOf(peerId, entry);
  }

  /** The peer's state alone: cheap enough for every send, unlike get(), which copies and decodes the whole record. */
  stateOf(peerId: string): TrustState | undefined {
    return this.peers.get(peerId)?.state;
  }

  /** The key the peer signs with now: the end of its key chain, or the key its id names. */
  currentKey(peerId: string): Uint8Array | undefined {
    const entry = this.peers.get(peerId);
    if (entry === undefined) return undefined;
    // Asked for every batch and receipt: decoded once per stored key, not at each call.
    const known = this.decodedKeys.get(peerId);
    if (known?.encoded === entry.public_key) return known.key;
    const key = decodeKey(entry.public_key);
    this.decodedKeys.set(peerId, { encoded: entry.public_key, key });
    return key;
  }

  /**
   * The key that signs for the peer and that messages to it are addressed
   * to: its current key, or the key its id names for a peer this node keeps
   * no record of (one it only asked to pair with, from its link).
   */
  keyOf(peerId: string): Uint8Array {
    return this.currentKey(peerId) ?? cachedPublicKeyFromPeerId(peerId);
  }

  /**
   * The peer whose current key this is, among peers that rotated: a
   * rotated peer that knows this node follows it sends no chain, and its
   * key then names no peer id by itself. Undefined for any other key.
   */
  rotatedPeerWithKey(publicKey: Uint8Array): string | undefined {
    const encoded = encodeKey(publicKey);
    for (const [peerId, entry] of this.peers) if (entry.key_chain !== undefined && entry.public_key === encoded) return peerId;
    return undefined;
  }

  isTrusted(peerId: string): boolean {
    return this.stateOf(peerId) === 'trusted';
  }

  list(): TrustedPeerRecord[] {
    return [...this.peers].map(([peerId, entry]) => recordOf(peerId, entry));
  }

  /** Pins the key on first pairing; trusting a revoked peer again needs a new pairing, which lands here. */
  trust(request: TrustRequest, now = new Date()): TrustedPeerRecord {
    const chain = request.keyChain ?? [];
    const first = chain[0];
    const peerId = peerIdFromPublicKey(first === undefined ? request.publicKey : first.root);
    const publicKey = encodeKey(request.publicKey);
    const displayName = validateDisplayName(request.displayName);
    const at = now.toISOString();
    // A record pinned at an earlier key of the chain moves along it first (refused as any other chain would be).
    if (chain.length > 0 && this.peers.has(peerId) && this.peers.get(peerId)?.public_key !== publicKey) {
      const applied = this.applyKeyChain(peerId, chain, now);
      if (!applied.ok) throw new P2pError('CONFLICT', applied.message);
    }
    const existing = this.peers.get(peerId);
    if (existing === undefined) {
      const keyChain = chain.length === 0 ? {} : { key_chain: keyChainToText(chain) };
      const keyProblem = storedKeyProblem(peerId, publicKey, keyChain.key_chain);
      if (keyProblem !== undefined) throw new P2pError('INVALID_INPUT', `refusing to pin a key: ${keyProblem}`);
      return this.commit(peerId, {
        public_key: publicKey,
        display_name: displayName,
        addresses: mostRecentAddresses(request.addresses, []),
        state: 'trusted',
        first_seen: at,
        last_seen: null,
        trusted_at: at,
        revoked_at: null,
        key_history: [{ public_key: publicKey, pinned_at: at }],
        refused_keys: [],
        ...keyChain,
      });
    }
    if (existing.public_key !== publicKey) {
      throw new Error(`trust store: the pinned key of ${peerId} differs from the key that names it`);
    }
    return this.commit(peerId, {
      ...existing,
      display_name: displayName,
      addresses: mostRecentAddresses(request.addresses, existing.addresses),
      state: 'trusted',
      trusted_at: existing.state === 'trusted' ? existing.trusted_at : at,
      revoked_at: null,
    });
  }

  /** This node's user withdraws trust; also from `revoked_by_peer`, which then leaves the peers list. */
  revoke(peerId: string, now = new Date()): TrustedPeerRecord {
    const existing = this.existing(peerId);
    if (existing.state === 'revoked') return recordOf(peerId, existing);
    return this.commit(peerId, { ...existing, state: 'revoked', revoked_at: now.toISOString() });
  }

  /** The peer revoked this node. Only a trusted peer moves: one this node revoked itself stays `revoked`. */
  markRevokedByPeer(peerId: string, now = new Date()): TrustedPeerRecord {
    const existing = this.existing(peerId);
    if (existing.state !== 'trusted') return recordOf(peerId, existing);
    return this.commit(peerId, { ...existing, state: 'revoked_by_peer', revoked_at: now.toISOString() });
  }

  /**
   * Notes a connection, in memory at once. A new address or name is written
   * within seenWriteDelayMs, together with whatever else arrived meanwhile;
   * a bare "seen again" waits for another write unless the file's time is
   * older than LAST_SEEN_WRITE_INTERVAL_MS. Rewriting the whole file for
   * every session made a node with 1,000 peers spend most of its time
   * writing it. An update the file could not hold is refused here.
   */
  recordSeen(peerId: string, seen: SeenUpdate, now = new Date()): TrustedPeerRecord {
    const existing = this.existing(peerId);
    const entry: PeerEntry = {
      ...existing,
      last_seen: now.toISOString(),
      addresses: seen.address === undefined ? existing.addresses : mostRecentAddresses([seen.address], existing.addresses),
      display_name: seen.displayName === undefined ? existing.display_name : validateDisplayName(seen.displayName),
    };
    const problem = peerEntryProblem(entry);
    if (problem !== undefined) throw new P2pError('INVALID_INPUT', `refusing to record a connection of ${peerId}: ${problem}`);
    this.peers.set(peerId, entry);
    const onlyTime = entry.display_name === existing.display_name && entry.addresses.join() === existing.addresses.join();
    const written = this.writtenLastSeen.get(peerId) ?? null;
    const stale = written === null || now.getTime() - Date.parse(written) >= LAST_SEEN_WRITE_INTERVAL_MS;
    // Traces still unwritten (a failed write) are due again whatever this connection brings.
    if (this.seenUnwritten || !onlyTime || stale) this.writeSeenSoon();
    return recordOf(peerId, entry);
  }

  /** Writes the connection traces that are due, without waiting; for shutdown. */
  close(): void {
    if (this.seenUnwritten) this.writeSeen();
  }

  /** The peer said it cannot be reached through the DHT (its hello named no DHT key): its DHT address is dropped. */
  forgetDhtAddress(peerId: string): void {
    const existing = this.existing(peerId);
    if (!existing.addresses.some(isDhtAddress)) return;
    this.commit(peerId, { ...existing, addresses: existing.addresses.filter((address) => !isDhtAddress(address)) });
  }

  /** Keeps evidence of a key presented in this peer's name; the pinned key stays as it is. */
  recordRefusedKey(peerId: string, presentedKey: Uint8Array, address: string | null, now = new Date()): TrustedPeerRecord {
    const existing = this.existing(peerId);
    const refused = { public_key: encodeKey(presentedKey), seen_at: now.toISOString(), address };
    return this.commit(peerId, {
      ...existing,
      refused_keys: [...existing.refused_keys, refused].slice(-MAX_REFUSED_KEYS),
    });
  }

  /**
   * Follows the peer's key chain: accepted only when it verifies, roots at
   * the peer id, and holds the known chain as its beginning. A longer chain
   * pins its last key (the one replaced gets `retired_at`); the same chain
   * changes nothing. The state is left alone: a revoked peer's chain is
   * kept too, since only a new pairing makes it trusted again.
   *
   * The known chain was verified when it was stored, so the bytes are
   * compared first and only the statements past the shared beginning are
   * verified: a copy of the peer's public chain with a forged tail costs
   * one signature check, not the whole chain's. A fork is named `conflict`
   * only once its first differing statement verifies, signed by one of the
   * peer's own keys.
   */
  applyKeyChain(peerId: string, chain: readonly RotationStatement[], now = new Date()): KeyChainApplied {
    const existing = this.existing(peerId);
    const refuse = (refusal: KeyChainApplyRefusal, why: string): KeyChainApplied => ({
      ok: false,
      refusal,
      message: `the key chain presented for ${peerId} ${why}; the pinned key stays`,
    });
    const first = chain[0];
    if (first === undefined) throw new KeyChainFormatError('a key chain holds at least one statement');
    if (peerIdFromPublicKey(first.root) !== peerId) return refuse('other_root', 'starts at another identity\'s key');
    const known = knownChainOf(existing);
    const agreed = sharedBeginning(known, chain);
    if (agreed === chain.length) {
      if (chain.length < known.length) return refuse('older_chain', `ends at key ${chain.length} of the ${known.length} rotations already known`);
      return { ok: true, changed: false, record: recordOf(peerId, existing) };
    }
    const verdict = verifyKeyChain(chain, agreed);
    if (!verdict.ok) return refuse(`invalid_${verdict.refusal}`, `${describeKeyChainRefusal(verdict.refusal)} (statement ${verdict.index + 1})`);
    if (agreed < known.length) {
      return refuse('conflict', `holds another rotation statement at seq ${agreed + 1} than the one already known (one of the two keys that signed them may be stolen)`);
    }
    const at = now.toISOString();
    const publicKey = encodeKey(verdict.chain.currentKey);
    const history = existing.key_history.map((pinned) =>
      pinned.public_key === existing.public_key && pinned.retired_at === undefined ? { ...pinned, retired_at: at } : pinned,
    );
    const record = this.commit(peerId, {
      ...existing,
      public_key: publicKey,
      key_history: [...history, { public_key: publicKey, pinned_at: at }],
      key_chain: keyChainToText(chain),
    });
    return { ok: true, changed: true, record };
  }

  private existing(peerId: string): PeerEntry {
    const entry = this.peers.get(peerId);
    if (entry === undefined) {
      throw new P2pError('NOT_FOUND', `no paired peer has the peer id ${peerId}; the peers operation lists them`);
    }
    return entry;
  }

  /** Whether a trusted peer is known at this address; no record is built, as the DHT's firewall asks for every connection. */
  isTrustedAddress(address: string): boolean {
    for (const entry of this.peers.values()) if (entry.state === 'trusted' && entry.addresses.includes(address)) return true;
    return false;
  }

  /** The file is written first, so a failed write leaves memory as it was; the write takes pending connection traces along. */
  private commit(peerId: string, entry: PeerEntry): TrustedPeerRecord {
    const next = new Map(this.peers).set(peerId, entry);
    this.save(next);
    this.peers.set(peerId, entry);
    return recordOf(peerId, entry);
  }

  private writeSeenSoon(): void {
    this.seenUnwritten = true;
    if (this.seenWrite !== null) return;
    this.seenWrite = setTimeout(() => this.writeSeen(), this.options.seenWriteDelayMs);
    // Shutdown writes what is pending (close); the timer alone keeps no process alive.
    this.seenWrite.unref();
  }

  private writeSeen(): void {
    this.seenWrite = null;
    try {
      this.save(this.peers);
    } catch (error) {
      this.options.onSeenWriteError(error as Error);
    }
  }

  /** Every write holds every change made so far, so none is due after it. */
  private save(peers: ReadonlyMap<string, PeerEntry>): void {
    TRUST_FILE.save(this.path, { version: 1, peers: Object.fromEntries(peers) });
    if (this.seenWrite !== null) clearTimeout(this.seenWrite);
    this.seenWrite = null;
    this.seenUnwritten = false;
    for (const [peerId, entry] of peers) this.writtenLastSeen.set(peerId, entry.last_seen);
  }
}

/** The chain the file holds, checked when the file was read. */
function knownChainOf(entry: PeerEntry): RotationStatement[] {
  return entry.key_chain === undefined ? [] : decodeKeyChain(decodeKey(entry.key_chain));
}

/** How many statements at the start of `chain` are, byte for byte, the known chain's. */
function sharedBeginning(known: readonly RotationStatement[], chain: readonly RotationStatement[]): number {
  const shared = Math.min(known.length, chain.length);
  for (let index = 0; index < shared; index += 1) {
    const ours = encodeRotationStatement(known[index] as RotationStatement);
    const theirs = encodeRotationStatement(chain[index] as RotationStatement);
    if (Buffer.compare(ours, theirs) !== 0) return index;
  }
  return shared;
}

/** Newest first, at most MAX_PEER_ADDRESSES, and one DHT address: a node has one DHT key, so an older one is stale. */
function mostRecentAddresses(newest: readonly string[], older: readonly string[]): string[] {
  const merged = [...new Set([...newest, ...older])];
  const dht = merged.find(isDhtAddress);
  return merged.filter((address) => !isDhtAddress(address) || address === dht).slice(0, MAX_PEER_ADDRESSES);
}

function recordOf(peerId: string, entry: PeerEntry): TrustedPeerRecord {
  return {
    peerId,
    publicKey: decodeKey(entry.public_key),
    displayName: entry.display_name,
    addresses: [...entry.addresses],
    state: entry.state,
    firstSeen: new Date(entry.first_seen),
    lastSeen: entry.last_seen === null ? null : new Date(entry.last_seen),
    trustedAt: new Date(entry.trusted_at),
    revokedAt: entry.revoked_at === null ? null : new Date(entry.revoked_at),
    keyHistory: entry.key_history.map((pinned) => ({
      publicKey: decodeKey(pinned.public_key),
      pinnedAt: new Date(pinned.pinned_at),
      retiredAt: pinned.retired_at === undefined ? null : new Date(pinned.retired_at),
    })),
    refusedKeys: entry.refused_keys.map((refused) => ({
      publicKey: decodeKey(refused.public_key),
      seenAt: new Date(refused.seen_at),
      address: refused.address,
    })),
    keyChain: knownChainOf(entry),
  };
}

function encodeKey(key: Uint8Array): string {
  return Buffer.from(key).toString('base64');
}

function decodeKey(base64: string): Uint8Array {
  return new Uint8Array(Buffer.from(base64, 'base64'));
}
