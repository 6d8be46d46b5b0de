import { join } from 'node:path';
import { P2pError } from '../common/errors';
import { DISPLAY_NAME_PATTERN, validateDisplayName } from '../common/display-name';
import { PEER_ID_PATTERN, peerIdFromPublicKey } from '../common/peer-id';
import {
  ADDRESS_SCHEMA,
  DHT_ADDRESS_SCHEMA,
  closedObject,
  nullable,
  PUBLIC_KEY_SCHEMA,
  StateFileFormat,
  TIME_SCHEMA,
} from '../common/json-state-file';
import { replaceLegacyNames } from './legacy-names';
import { quoteUntrusted } from '../common/quote-text';
import { decodeKeyChain, MAX_KEY_CHAIN_BYTES, type RotationStatement } from '../wire/key-rotation';
import { keyChainToText, storedKeyProblem } from '../wire/stored-key-chain';

/**
 * Pairing requests waiting for a person's answer, both directions, and the
 * peers whose request was rejected recently. Everything here is bounded and
 * expires: a stranger can fill the incoming list, so a new request pushes out
 * the oldest one rather than being refused, and nothing waits forever.
 *
 * A peer asks again until it is answered. Its repeats never replace the
 * request its person was shown: the name and address the request arrived
 * with stay, and a repeat claiming another name or address is recorded
 * beside them (the latest claim and how many repeats changed it), so the
 * change is shown rather than slipped under an answer. A repeat that claims
 * what is already recorded writes nothing.
 *
 * File `<data_dir>/pending_requests.json`, mode 0600, replaced atomically on
 * every change; every list is oldest first:
 *
 *   {"version": 1,
 *    "incoming": [Request + {"latest_claim"?: {"display_name": "...", "address": "host:port" | null,
 *                                             "changes": 1, "changed_at": "<ISO>"}}],
 *    "outgoing": [Request + {"state": "queued" | "delivered" | "rejected", "attempts": 0, "last_error": "..." | null}],
 *    "rejected": [{"peer": "<peer id>", "rejected_at": "<ISO>"}]}
 *
 *   Request = {"request_id": "<32 hex>", "peer": "<peer id>", "public_key": "<base64>",
 *              "display_name": "...", "address": "host:port" | null,
 *              "created_at": "<ISO>", "expires_at": "<ISO>", "key_chain"?: "<base64 key chain>"}
 *
 * `latest_claim` is absent until a repeat changes the name or the address,
 * so files written before it existed load as they are. `key_chain` is there
 * only for a peer that rotated its key (docs/protocol.md §19): its request
 * is kept under its first key's peer id, and `public_key` is the chain's
 * last key; without one, the file is what older builds wrote and read.
 */
export interface PendingLimits {
  /** Incoming requests kept; beyond this the oldest is evicted. */
  maxIncoming: number;
  /** Outgoing requests kept; beyond this new ones are refused. */
  maxOutgoing: number;
  /** How long a request waits for an answer. */
  requestTtlMs: number;
  /** How long a rejection is remembered. */
  rejectionTtlMs: number;
  /** Rejections remembered; beyond this the oldest is forgotten. */
  maxRejected: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export const DEFAULT_PENDING_LIMITS: PendingLimits = {
  maxIncoming: 32,
  maxOutgoing: 64,
  requestTtlMs: 7 * DAY_MS,
  rejectionTtlMs: 30 * DAY_MS,
  maxRejected: 256,
};

export const PENDING_FILE_NAME = 'pending_requests.json';

export interface NewPendingRequest {
  /** 32 lower-case hex characters. */
  requestId: string;
  /** The other node's current key; the peer id is derived from it, or from keyChain's root. */
  publicKey: Uint8Array;
  /** A rotated peer's chain, already verified, ending at publicKey. */
  keyChain?: readonly RotationStatement[];
  displayName: string;
  address: string | null;
  /** Outgoing only: the peer's DHT address (`dht:<key>`, from its signed link), tried after `address`. */
  dhtAddress?: string | null;
}

export interface PendingRequest {
  readonly requestId: string;
  readonly peerId: string;
  readonly publicKey: Uint8Array;
  /** Empty unless the peer rotated its key. */
  readonly keyChain: readonly RotationStatement[];
  readonly displayName: string;
  readonly address: string | null;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

/** What repeats of an incoming request claimed unlike the request as it arrived. */
export interface LatestClaim {
  /** The name and address of the latest repeat that changed either. */
  readonly displayName: string;
  readonly address: string | null;
  /** Repeats that changed the name or the address, each compared with the claim before it. */
  readonly changes: number;
  readonly changedAt: Date;
}

export interface PendingIncoming extends PendingRequest {
  /** null until a repeat claims another name or address; displayName and address stay those the request arrived with. */
  readonly latestClaim: LatestClaim | null;
}

/** What receiving a request did: stored a new one, or found a repeat that claims the same or something new. */
export type IncomingOutcome =
  | { kind: 'new'; request: PendingIncoming; evicted: PendingIncoming | null }
  | { kind: 'same' | 'changed'; request: PendingIncoming };

export type OutgoingState = 'queued' | 'delivered' | 'rejected';

export interface PendingOutgoing extends PendingRequest {
  /** Where the peer's link said it listens on the DHT (`dht:<key>`); null when it did not. */
  readonly dhtAddress: string | null;
  readonly state: OutgoingState;
  readonly attempts: number;
  readonly lastError: string | null;
}

export interface OutgoingUpdate {
  state?: OutgoingState;
  attempts?: number;
  lastError?: string | null;
}

interface RequestEntry {
  request_id: string;
  peer: string;
  public_key: string;
  display_name: string;
  address: string | null;
  created_at: string;
  expires_at: string;
  key_chain?: string;
}

interface ClaimEntry {
  display_name: string;
  address: string | null;
  changes: number;
  changed_at: string;
}

interface IncomingEntry extends RequestEntry {
  latest_claim?: ClaimEntry;
}

interface OutgoingEntry extends RequestEntry {
  /** Absent in files from before the DHT. */
  dht_address?: string | null;
  state: OutgoingState;
  attempts: number;
  last_error: string | null;
}

interface RejectionEntry {
  peer: string;
  rejected_at: string;
}

interface PendingFile {
  version: 1;
  incoming: IncomingEntry[];
  outgoing: OutgoingEntry[];
  rejected: RejectionEntry[];
}

const REQUEST_ID_PATTERN = /^[0-9a-f]{32}$/;

const REQUEST_PROPERTIES = {
  request_id: { type: 'string', pattern: REQUEST_ID_PATTERN.source },
  peer: { type: 'string', pattern: PEER_ID_PATTERN.source },
  public_key: PUBLIC_KEY_SCHEMA,
  display_name: { type: 'string', pattern: DISPLAY_NAME_PATTERN.source },
  address: nullable(ADDRESS_SCHEMA),
  created_at: TIME_SCHEMA,
  expires_at: TIME_SCHEMA,
};

/** Optional: only a rotated peer's request has one. */
const KEY_CHAIN_PROPERTY = { key_chain: { type: 'string', maxLength: 4 * Math.ceil(MAX_KEY_CHAIN_BYTES / 3) } };

const PENDING_FILE = new StateFileFormat<PendingFile>({
  name: 'the pending pairing requests file',
  movingAwayMeans: 'forget every pending pairing request and rejection',
  schema: closedObject({
    version: { const: 1 },
    incoming: {
      type: 'array',
      items: closedObject(
        {
          ...REQUEST_PROPERTIES,
          ...KEY_CHAIN_PROPERTY,
          latest_claim: closedObject({
            display_name: REQUEST_PROPERTIES.display_name,
            address: REQUEST_PROPERTIES.address,
            changes: { type: 'integer', minimum: 1 },
            changed_at: TIME_SCHEMA,
          }),
        },
        Object.keys(REQUEST_PROPERTIES),
      ),
    },
    outgoing: {
      type: 'array',
      items: closedObject(
        {
          ...REQUEST_PROPERTIES,
          ...KEY_CHAIN_PROPERTY,
          dht_address: nullable(DHT_ADDRESS_SCHEMA),
          state: { enum: ['queued', 'delivered', 'rejected'] },
          attempts: { type: 'integer', minimum: 0 },
          last_error: { type: ['string', 'null'] },
        },
        [...Object.keys(REQUEST_PROPERTIES), 'state', 'attempts', 'last_error'],
      ),
    },
    rejected: {
      type: 'array',
      items: closedObject({ peer: { type: 'string', pattern: PEER_ID_PATTERN.source }, rejected_at: TIME_SCHEMA }),
    },
  }),
  check: (file) => requestListProblem('incoming', file.incoming) ?? requestListProblem('outgoing', file.outgoing),
  upgrade: (file) => replaceLegacyNames(file, ['incoming', 'outgoing']),
});

/** Lookups by request id or by peer must find one request at most, and its key must be the one its peer id names. */
function requestListProblem(list: string, entries: readonly RequestEntry[]): string | undefined {
  const ids = new Set<string>();
  const peers = new Set<string>();
  for (const entry of entries) {
    const keyProblem = storedKeyProblem(entry.peer, entry.public_key, entry.key_chain);
    if (keyProblem !== undefined) return `${list} request ${entry.request_id}: ${keyProblem}`;
    if (ids.has(entry.request_id)) return `${list} request id ${entry.request_id} appears twice`;
    if (peers.has(entry.peer)) return `${list} has two requests for peer ${entry.peer}`;
    ids.add(entry.request_id);
    peers.add(entry.peer);
  }
  return undefined;
}

export class PendingRequests {
  private constructor(
    private readonly path: string,
    private readonly limits: PendingLimits,
    private readonly now: () => Date,
    private file: PendingFile,
    /** What opening changed in a file an earlier p2p-comm wrote (already written back), for the log. */
    readonly upgradeNotes: readonly string[],
  ) {}

  static open(dataDir: string, limits: Partial<PendingLimits> = {}, now: () => Date = () => new Date()): PendingRequests {
    const path = join(dataDir, PENDING_FILE_NAME);
    const notes: string[] = [];
    const file = PENDING_FILE.load(path, (note) => notes.push(note)) ?? { version: 1, incoming: [], outgoing: [], rejected: [] };
    return new PendingRequests(path, { ...DEFAULT_PENDING_LIMITS, ...limits }, now, file, notes);
  }

  /**
   * A request from a peer with none pending is stored, evicting the oldest
   * when the list is full. From a peer with one pending it is a repeat: the
   * pending request keeps its id, name, address and expiry, and a name or
   * address unlike the latest claim is recorded; a repeat claiming what is
   * already recorded leaves the file untouched.
   */
  receiveIncoming(request: NewPendingRequest): IncomingOutcome {
    const file = this.current();
    const entry = this.newEntry(request);
    const pending = file.incoming.find((existing) => existing.peer === entry.peer);
    if (pending !== undefined) return this.repeat(file, pending, entry);
    assertIdUnused(file, entry, 'incoming');
    // More than one is evicted only when the limit was lowered since the file was written.
    const evicted = file.incoming.slice(0, Math.max(0, file.incoming.length - this.limits.maxIncoming + 1));
    this.commit({ ...file, incoming: [...file.incoming.slice(evicted.length), entry] });
    const oldestEvicted = evicted[0];
    return { kind: 'new', request: incomingOf(entry), evicted: oldestEvicted === undefined ? null : incomingOf(oldestEvicted) };
  }

  /** Replaces an earlier request to the same peer; refuses a new peer when the list is full. */
  addOutgoing(request: NewPendingRequest): PendingOutgoing {
    const file = this.current();
    const entry: OutgoingEntry = {
      ...this.newEntry(request),
      dht_address: request.dhtAddress ?? null,
      state: 'queued',
      attempts: 0,
      last_error: null,
    };
    assertIdUnused(file, entry, 'outgoing');
    const others = file.outgoing.filter((existing) => existing.peer !== entry.peer);
    if (others.length >= this.limits.maxOutgoing) {
      throw new P2pError(
        'LIMIT_REACHED',
        `${others.length} outgoing pairing requests are already waiting for an answer, the most p2p-comm keeps; ` +
          'wait until some are accepted, rejected or expire, then ask again',
      );
    }
    this.commit({ ...file, outgoing: [...others, entry] });
    return outgoingOf(entry);
  }

  /** Oldest first. */
  incoming(): PendingIncoming[] {
    return this.current().incoming.map(incomingOf);
  }

  /** Oldest first. */
  outgoing(): PendingOutgoing[] {
    return this.current().outgoing.map(outgoingOf);
  }

  findIncoming(requestId: string): PendingIncoming | undefined {
    return optional(this.current().incoming.find((entry) => entry.request_id === requestId), incomingOf);
  }

  findIncomingByPeer(peerId: string): PendingIncoming | undefined {
    return optional(this.current().incoming.find((entry) => entry.peer === peerId), incomingOf);
  }

  findOutgoing(requestId: string): PendingOutgoing | undefined {
    return optional(this.current().outgoing.find((entry) => entry.request_id === requestId), outgoingOf);
  }

  findOutgoingByPeer(peerId: string): PendingOutgoing | undefined {
    return optional(this.current().outgoing.find((entry) => entry.peer === peerId), outgoingOf);
  }

  removeIncoming(requestId: string): PendingIncoming {
    const file = this.current();
    const entry = file.incoming.find((candidate) => candidate.request_id === requestId);
    if (entry === undefined) throw requestNotFound(requestId);
    this.commit({ ...file, incoming: file.incoming.filter((candidate) => candidate !== entry) });
    return incomingOf(entry);
  }

  removeOutgoingForPeer(peerId: string): PendingOutgoing | undefined {
    const file = this.current();
    const entry = file.outgoing.find((candidate) => candidate.peer === peerId);
    if (entry === undefined) return undefined;
    this.commit({ ...file, outgoing: file.outgoing.filter((candidate) => candidate !== entry) });
    return outgoingOf(entry);
  }

  updateOutgoing(requestId: string, update: OutgoingUpdate): PendingOutgoing {
    const file = this.current();
    const entry = file.outgoing.find((candidate) => candidate.request_id === requestId);
    if (entry === undefined) throw requestNotFound(requestId);
    const updated: OutgoingEntry = {
      ...entry,
      state: update.state ?? entry.state,
      attempts: update.attempts ?? entry.attempts,
      last_error: update.lastError === undefined ? entry.last_error : update.lastError,
    };
    this.commit({ ...file, outgoing: file.outgoing.map((candidate) => (candidate === entry ? updated : candidate)) });
    return outgoingOf(updated);
  }

  /** Remembers the rejection (newest kept), so a rejected peer cannot keep asking. */
  recordRejection(peerId: string): void {
    const file = this.current();
    const rejected = [
      ...file.rejected.filter((entry) => entry.peer !== peerId),
      { peer: peerId, rejected_at: this.now().toISOString() },
    ];
    this.commit({ ...file, rejected: rejected.slice(-this.limits.maxRejected) });
  }

  isRejected(peerId: string): boolean {
    return this.current().rejected.some((entry) => entry.peer === peerId);
  }

  clearRejection(peerId: string): void {
    const file = this.current();
    const rejected = file.rejected.filter((entry) => entry.peer !== peerId);
    if (rejected.length !== file.rejected.length) this.commit({ ...file, rejected });
  }

  /** The state with everything expired dropped; written with the next change. */
  private current(): PendingFile {
    const now = this.now().getTime();
    const live = (entry: RequestEntry): boolean => Date.parse(entry.expires_at) > now;
    const remembered = (entry: RejectionEntry): boolean => Date.parse(entry.rejected_at) + this.limits.rejectionTtlMs > now;
    this.file = {
      version: 1,
      incoming: this.file.incoming.filter(live),
      outgoing: this.file.outgoing.filter(live),
      rejected: this.file.rejected.filter(remembered),
    };
    return this.file;
  }

  private newEntry(request: NewPendingRequest): RequestEntry {
    if (!REQUEST_ID_PATTERN.test(request.requestId)) {
      throw new P2pError('INVALID_INPUT', `a request id is 32 lower-case hex characters, got ${quoteUntrusted(request.requestId)}`);
    }
    const now = this.now();
    const chain = request.keyChain ?? [];
    const root = chain[0]?.root ?? request.publicKey;
    const entry: RequestEntry = {
      request_id: request.requestId,
      peer: peerIdFromPublicKey(root),
      public_key: Buffer.from(request.publicKey).toString('base64'),
      display_name: validateDisplayName(request.displayName),
      address: request.address,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + this.limits.requestTtlMs).toISOString(),
    };
    // Absent, not undefined, for an unrotated peer: the file then reads as older builds wrote it.
    if (chain.length > 0) entry.key_chain = keyChainToText(chain);
    const keyProblem = storedKeyProblem(entry.peer, entry.public_key, entry.key_chain);
    if (keyProblem !== undefined) throw new P2pError('INVALID_INPUT', `refusing a pairing request: ${keyProblem}`);
    return entry;
  }

  /** `repeat` is validated like a new request; only its name and address are kept, and only when they are news. */
  private repeat(file: PendingFile, pending: IncomingEntry, repeat: RequestEntry): IncomingOutcome {
    const claimed = pending.latest_claim ?? pending;
    if (repeat.display_name === claimed.display_name && repeat.address === claimed.address) {
      return { kind: 'same', request: incomingOf(pending) };
    }
    const updated: IncomingEntry = {
      ...pending,
      latest_claim: {
        display_name: repeat.display_name,
        address: repeat.address,
        changes: (pending.latest_claim?.changes ?? 0) + 1,
        changed_at: repeat.created_at,
      },
    };
    this.commit({ ...file, incoming: file.incoming.map((candidate) => (candidate === pending ? updated : candidate)) });
    return { kind: 'changed', request: incomingOf(updated) };
  }

  /** The file is written first, so a failed write leaves memory and disk alike. */
  private commit(next: PendingFile): void {
    PENDING_FILE.save(this.path, next);
    this.file = next;
  }
}

/** A request id names one request; another peer's request may not take it over. */
/** A request id names one request: in its own list only the same peer's, and never one of this node's own. */
function assertIdUnused(file: PendingFile, entry: RequestEntry, list: 'incoming' | 'outgoing'): void {
  const holder = file[list].find((existing) => existing.request_id === entry.request_id);
  if (holder !== undefined && holder.peer !== entry.peer) {
    throw new P2pError('CONFLICT', `request id ${entry.request_id} is already used by a request of another peer`);
  }
  // The sender chooses an incoming id: one of this node's own requests' would make two rows share an id where requests are listed.
  if (list === 'incoming' && file.outgoing.some((sent) => sent.request_id === entry.request_id)) {
    throw new P2pError('CONFLICT', `request id ${entry.request_id} is the id of a request this node sent`);
  }
}

function requestNotFound(requestId: string): P2pError {
  return new P2pError(
    'NOT_FOUND',
    `no pending pairing request has the id ${requestId}; it may have been answered or have expired (the requests operation lists the pending ones)`,
  );
}

function optional<E, V>(entry: E | undefined, view: (entry: E) => V): V | undefined {
  return entry === undefined ? undefined : view(entry);
}

function requestOf(entry: RequestEntry): PendingRequest {
  return {
    requestId: entry.request_id,
    peerId: entry.peer,
    publicKey: decodeKey(entry.public_key),
    keyChain: entry.key_chain === undefined ? [] : decodeKeyChain(decodeKey(entry.key_chain)),
    displayName: entry.display_name,
    address: entry.address,
    createdAt: new Date(entry.created_at),
    expiresAt: new Date(entry.expires_at),
  };
}

function incomingOf(entry: IncomingEntry): PendingIncoming {
  const claim = entry.latest_claim;
  return {
    ...requestOf(entry),
    latestClaim:
      claim === undefined
        ? null
        : { displayName: claim.display_name, address: claim.address, changes: claim.changes, changedAt: new Date(claim.changed_at) },
  };
}

function outgoingOf(entry: OutgoingEntry): PendingOutgoing {
  return {
    ...requestOf(entry),
    dhtAddress: entry.dht_address ?? null,
    state: entry.state,
    attempts: entry.attempts,
    lastError: entry.last_error,
  };
}

function decodeKey(base64: string): Uint8Array {
  return new Uint8Array(Buffer.from(base64, 'base64'));
}
