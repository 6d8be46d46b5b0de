import { randomBytes, sign, type KeyObject } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { P2pError } from '../common/errors';
import { createFileAtomic, isErrnoException, readFileIfExists, renameDurably, writeFileAtomic } from '../common/atomic-file';
import { readPrivateFile } from '../common/private-file';
import { ed25519FromSeed, hkdfSha256 } from '../wire/primitives';
import { fingerprintOf, PEER_ID_PATTERN, peerIdFromPublicKey, PUBLIC_KEY_BYTES } from '../common/peer-id';
import { extendKeyChain, MAX_KEY_CHAIN, type RotationStatement } from '../wire/key-rotation';
import { keyChainFromText, keyChainToText } from '../wire/stored-key-chain';

/**
 * The node's long-term Ed25519 keys. The first key, the root, names the
 * node: its peer id, which paired peers, grants and stored records hold.
 * A key rotation (docs/protocol.md §19) replaces the key the node signs
 * with, the current key, certified by a chain of statements from the root;
 * the peer id stays. Losing or replacing the key file silently would break
 * every pairing: an unusable file stops the start with a message saying how
 * to recover, and the file is rewritten only by a rotation and by the
 * erasure of a retired key, both through an atomic replace.
 *
 * File `<data_dir>/identity.key`, mode 0600. Version 1, as long as the node
 * never rotated (older builds read only this one):
 *   {"version":1,"type":"ed25519","seed":"<base64, 32 bytes>","public_key":"<base64, 32 bytes>","created_at":"<ISO 8601>"}
 * Version 2, written by the first rotation:
 *   {"version":2,"type":"ed25519","peer_id":"<root's peer id>","seed":"<current>","public_key":"<current>",
 *    "created_at":"<ISO>","chain":"<base64 key chain>",
 *    "retiring":[{"seed":"<old>","public_key":"<old>","retire_at":"<ISO>"}],
 *    "confirmed":{"<peer id>":<seq the peer is known to have pinned>}}
 *
 * A rotation writes the next file to `identity.key.next` (created, never
 * replaced, and fsync'd) before renaming it over `identity.key`; a start
 * that finds a `.next` completes the rename if that file extends the
 * current chain by exactly one statement and removes it otherwise. The
 * caller keeps the network paused between the two steps, so no peer ever
 * sees a key that is not yet in place.
 */
export interface NodeIdentity {
  /** The current key: the one this node signs with. The root until the first rotation. */
  readonly publicKey: Uint8Array;
  /** Names the root key, whatever the current key. */
  readonly peerId: string;
  readonly rootKey: Uint8Array;
  /** Of the current key. */
  readonly fingerprint: string;
  /** Root to current key; empty until the first rotation. */
  readonly keyChain: readonly RotationStatement[];
  /** Earlier keys whose seed is still kept, until their retire time. */
  readonly retiring: readonly RetiringKey[];
  /** Per peer id, the chain length that peer is known to have pinned. */
  readonly confirmed: Readonly<Record<string, number>>;
  /**
   * Seed of the node's DHT key pair: HKDF of the current seed under a fixed
   * label. The DHT runs its own key exchange with it, so the identity key
   * never signs or agrees anything outside p2p-comm's own protocol.
   */
  readonly dhtSeed: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export interface RetiringKey {
  readonly publicKey: Uint8Array;
  readonly retireAt: Date;
  /** A peer that only knows the old DHT address still reaches the node until retireAt. */
  readonly dhtSeed: Uint8Array;
}

export interface IdentityClock {
  now(): Date;
}

const SYSTEM_CLOCK: IdentityClock = { now: () => new Date() };

const DHT_SEED_LABEL = 'p2p-comm dht key pair v1';

export const IDENTITY_FILE_NAME = 'identity.key';
export const NEXT_IDENTITY_FILE_NAME = `${IDENTITY_FILE_NAME}.next`;

/** How long a replaced key keeps working by default: long enough for a peer on holiday to come back. */
export const DEFAULT_KEY_GRACE_MS = 30 * 24 * 3600 * 1000;

const IDENTITY_FILE_MODE = 0o600;

/** Everything the file holds, secrets included; kept out of NodeIdentity so that no other module reads a seed. */
interface IdentityState {
  path: string;
  seed: Uint8Array;
  createdAt: string;
  chain: RotationStatement[];
  retiring: { seed: Uint8Array; publicKey: Uint8Array; retireAt: string }[];
  confirmed: Record<string, number>;
}

const states = new WeakMap<NodeIdentity, IdentityState>();

export function loadOrCreateIdentity(dataDir: string, clock: IdentityClock = SYSTEM_CLOCK): NodeIdentity {
  const path = join(dataDir, IDENTITY_FILE_NAME);
  settleInterruptedRotation(path);
  const identity = loadIdentity(path) ?? createIdentity(path);
  return retireExpiredKeys(identity, clock.now());
}

function loadIdentity(path: string): NodeIdentity | undefined {
  const content = readPrivateFile(path, 'the identity key');
  if (content === undefined) return undefined;
  const parsed = parseIdentityFile(content, path);
  if (typeof parsed === 'string') {
    throw new P2pError(
      'IDENTITY_UNUSABLE',
      `the identity key ${path} is unusable: ${parsed}. Restore it from a backup, or move it away to create a new identity (paired peers will then have to pair again)`,
    );
  }
  return identityOf(parsed);
}

/**
 * A crash between writing `.next` and renaming it leaves both files. The
 * rename is completed only for the exact successor of the current file: any
 * other `.next` (torn, foreign, or skipping a step) was never in use, since
 * the network stays paused until the rename, and is removed.
 */
function settleInterruptedRotation(path: string): void {
  const nextPath = `${path}.next`;
  const nextContent = readPrivateFile(nextPath, 'the next identity key');
  if (nextContent === undefined) return;
  const currentContent = readFileIfExists(path);
  const current = currentContent === undefined ? undefined : parseIdentityFile(currentContent, path);
  const next = parseIdentityFile(nextContent, nextPath);
  if (typeof current !== 'object' && typeof next === 'object') {
    // The next file may hold the only copy of the key peers now pin: never removed on the word of a file that cannot be read.
    throw new P2pError(
      'IDENTITY_UNUSABLE',
      `the identity key ${path} is ${current === undefined ? 'missing' : `unusable: ${current}`}, and a key rotation left ${nextPath}, which was kept; ` +
        `restore ${path} from a backup, or rename ${nextPath} to ${path} if the rotation is the one to keep`,
    );
  }
  if (typeof current === 'object' && typeof next === 'object' && isSuccessor(current, next)) {
    renameDurably(nextPath, path);
  } else {
    unlinkSync(nextPath);
  }
}

/**
 * Refuses to write from a state that is not the one on disk: an identity
 * object from before a rotation would otherwise put the old seed and the
 * shorter chain back (a rollback peers refuse), and a rewrite while a
 * rotation's next file waits would be undone by its rename (a retired seed
 * coming back with it).
 */
function checkWritable(state: IdentityState): void {
  const nextPath = `${state.path}.next`;
  if (readFileIfExists(nextPath) !== undefined) {
    throw new P2pError('CONFLICT', `a key rotation is already under way (${nextPath} exists); wait for it to finish`);
  }
  const content = readFileIfExists(state.path);
  const onDisk = content === undefined ? 'missing' : parseIdentityFile(content, state.path);
  const retiringOf = (of: IdentityState): string => of.retiring.map((key) => Buffer.from(key.publicKey).toString('base64')).join();
  if (typeof onDisk === 'string' || Buffer.compare(onDisk.seed, state.seed) !== 0 || onDisk.chain.length !== state.chain.length || retiringOf(onDisk) !== retiringOf(state)) {
    throw new P2pError('CONFLICT', `the identity key ${state.path} changed since this identity was loaded (a rotation happened); use the current identity`);
  }
}

function isSuccessor(current: IdentityState, next: IdentityState): boolean {
  if (next.chain.length !== current.chain.length + 1) return false;
  const root = current.chain[0]?.root ?? ed25519FromSeed(current.seed).publicKey;
  const nextRoot = next.chain[0]?.root as Uint8Array;
  if (Buffer.compare(root, nextRoot) !== 0) return false;
  return keyChainPrefixEquals(current.chain, next.chain);
}

function keyChainPrefixEquals(prefix: readonly RotationStatement[], chain: readonly RotationStatement[]): boolean {
  if (prefix.length === 0) return true;
  if (prefix.length > chain.length) return false;
  return keyChainToText(prefix) === keyChainToText(chain.slice(0, prefix.length));
}

/** The file's state, or the reason it cannot be used. */
function parseIdentityFile(content: Buffer, path: string): IdentityState | string {
  let file: unknown;
  try {
    file = JSON.parse(content.toString('utf8'));
  } catch {
    return 'it is not valid JSON';
  }
  if (typeof file !== 'object' || file === null || Array.isArray(file)) return 'it is not a JSON object';
  const fields = file as Record<string, unknown>;
  const version = fields['version'];
  if (version !== 1 && version !== 2) return `its version is ${JSON.stringify(version)}, expected 1 or 2`;
  if (fields['type'] !== 'ed25519') return `its type is ${JSON.stringify(fields['type'])}, expected "ed25519"`;
  const seed = decodeKeyBytes(fields['seed']);
  if (seed === undefined) return `its seed is not ${PUBLIC_KEY_BYTES} bytes in base64`;
  const publicKey = decodeKeyBytes(fields['public_key']);
  if (publicKey === undefined) return `its public_key is not ${PUBLIC_KEY_BYTES} bytes in base64`;
  // A mismatch would make us sign as a key other than the one our peer id (or chain) names.
  if (!seedMatches(seed, publicKey)) return 'its public_key does not belong to its seed';
  const createdAt = typeof fields['created_at'] === 'string' ? fields['created_at'] : new Date().toISOString();
  const state: IdentityState = { path, seed, createdAt, chain: [], retiring: [], confirmed: {} };
  return version === 1 ? state : parseRotatedFields(fields, state, publicKey);
}

/** Version 2: the chain roots at peer_id and ends at public_key; each retiring seed is a key the chain went through. */
function parseRotatedFields(fields: Record<string, unknown>, state: IdentityState, publicKey: Uint8Array): IdentityState | string {
  const chain = keyChainFromText(fields['chain']);
  if (typeof chain === 'string') return `its chain ${chain}`;
  if (fields['peer_id'] !== peerIdFromPublicKey(chain.root)) return 'its chain does not start at the key its peer_id names';
  if (Buffer.compare(chain.currentKey, publicKey) !== 0) return 'its public_key is not the last key of its chain';
  const retiring = fields['retiring'];
  if (!Array.isArray(retiring)) return 'its retiring is not a list';
  const earlierKeys = new Set(chain.keys.slice(0, -1).map((key) => Buffer.from(key).toString('base64')));
  for (const entry of retiring as unknown[]) {
    if (typeof entry !== 'object' || entry === null) return 'its retiring holds something other than keys';
    const key = entry as Record<string, unknown>;
    const seed = decodeKeyBytes(key['seed']);
    const oldKey = decodeKeyBytes(key['public_key']);
    if (seed === undefined || oldKey === undefined) return `its retiring keys are not ${PUBLIC_KEY_BYTES} bytes in base64`;
    if (!seedMatches(seed, oldKey)) return 'a retiring public_key does not belong to its seed';
    if (!earlierKeys.has(oldKey.toString('base64'))) return 'a retiring key is not an earlier key of its chain';
    const retireAt = key['retire_at'];
    if (typeof retireAt !== 'string' || Number.isNaN(Date.parse(retireAt))) return 'a retiring key has no valid retire_at';
    state.retiring.push({ seed, publicKey: oldKey, retireAt });
  }
  const confirmed = fields['confirmed'];
  if (typeof confirmed !== 'object' || confirmed === null || Array.isArray(confirmed)) return 'its confirmed is not an object';
  for (const [peerId, seq] of Object.entries(confirmed)) {
    if (!PEER_ID_PATTERN.test(peerId)) return `its confirmed names ${JSON.stringify(peerId)}, which is not a peer id`;
    if (!Number.isInteger(seq) || (seq as number) < 0 || (seq as number) > chain.statements.length) {
      return `its confirmed seq of ${peerId} is not 0-${chain.statements.length}`;
    }
    state.confirmed[peerId] = seq as number;
  }
  state.chain = chain.statements;
  return state;
}

function seedMatches(seed: Uint8Array, publicKey: Uint8Array): boolean {
  return Buffer.compare(ed25519FromSeed(seed).publicKey, publicKey) === 0;
}

/** Only the canonical base64 spelling: Buffer.from alone skips stray characters. */
function decodeKeyBytes(value: unknown): Buffer | undefined {
  if (typeof value !== 'string') return undefined;
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length !== PUBLIC_KEY_BYTES || bytes.toString('base64') !== value) return undefined;
  return bytes;
}

function createIdentity(path: string): NodeIdentity {
  const state: IdentityState = { path, seed: randomBytes(PUBLIC_KEY_BYTES), createdAt: new Date().toISOString(), chain: [], retiring: [], confirmed: {} };
  try {
    createFileAtomic(path, fileText(state), IDENTITY_FILE_MODE);
  } catch (error) {
    // Another process created the key since we looked: that key is the identity.
    const raced = isErrnoException(error) && error.code === 'EEXIST' ? loadIdentity(path) : undefined;
    if (raced !== undefined) return raced;
    throw new P2pError(
      'IDENTITY_UNUSABLE',
      `cannot create the identity key ${path}: ${reasonOf(error)}; check that the data directory exists and is writable`,
    );
  }
  return identityOf(state);
}

/** Version 1 until the first rotation, so that an unrotated node's file stays what older builds read. */
function fileText(state: IdentityState): string {
  const { publicKey } = ed25519FromSeed(state.seed);
  const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
  const file =
    state.chain.length === 0
      ? { version: 1, type: 'ed25519', seed: base64(state.seed), public_key: base64(publicKey), created_at: state.createdAt }
      : {
          version: 2,
          type: 'ed25519',
          peer_id: peerIdFromPublicKey((state.chain[0] as RotationStatement).root),
          seed: base64(state.seed),
          public_key: base64(publicKey),
          created_at: state.createdAt,
          chain: keyChainToText(state.chain),
          retiring: state.retiring.map((key) => ({ seed: base64(key.seed), public_key: base64(key.publicKey), retire_at: key.retireAt })),
          confirmed: state.confirmed,
        };
  return `${JSON.stringify(file, null, 2)}\n`;
}

function identityOf(state: IdentityState): NodeIdentity {
  const { privateKey, publicKey } = ed25519FromSeed(state.seed);
  const rootKey = state.chain[0]?.root ?? publicKey;
  const identity: NodeIdentity = {
    publicKey,
    rootKey,
    peerId: peerIdFromPublicKey(rootKey),
    fingerprint: fingerprintOf(publicKey),
    keyChain: state.chain,
    retiring: state.retiring.map((key) => ({ publicKey: key.publicKey, retireAt: new Date(key.retireAt), dhtSeed: dhtSeedOf(key.seed) })),
    confirmed: { ...state.confirmed },
    dhtSeed: dhtSeedOf(state.seed),
    sign: signerOf(privateKey),
  };
  states.set(identity, state);
  return identity;
}

function dhtSeedOf(seed: Uint8Array): Uint8Array {
  return hkdfSha256(seed, new Uint8Array(0), DHT_SEED_LABEL);
}

function signerOf(privateKey: KeyObject): (message: Uint8Array) => Uint8Array {
  return (message) => new Uint8Array(sign(null, message, privateKey));
}

function stateOf(identity: NodeIdentity): IdentityState {
  const state = states.get(identity);
  if (state === undefined) throw new Error('node identity: only an identity loaded from its file can rotate or retire keys');
  return state;
}

export interface RotationOptions {
  /** How long the replaced key keeps its seed (and its DHT address). */
  graceMs: number;
  clock: IdentityClock;
}

/** A rotation whose next file is durable but not in place: commit() puts it there; the network stays paused in between. */
export interface PreparedRotation {
  /** The identity as it is once committed. */
  readonly next: NodeIdentity;
  /** Renames the next file over the current one, durably. */
  commit(): void;
  /** Removes the next file: the rotation never happened. One already gone (a commit renamed it) is left so. */
  abandon(): void;
  /**
   * After a commit that threw: whether the next identity is the one on
   * disk (what failed came after the rename, such as the directory's
   * fsync), so that the node goes on with the key its file holds.
   */
  inPlace(): boolean;
}

/**
 * First step of a rotation: a new seed, a statement signed by the current
 * and the new key, and the whole next file written to `identity.key.next`.
 * A `.next` already there means a rotation is under way (CONFLICT); a chain
 * already MAX_KEY_CHAIN long cannot grow (LIMIT_REACHED).
 */
export function prepareRotation(identity: NodeIdentity, options: Partial<RotationOptions> = {}): PreparedRotation {
  const state = stateOf(identity);
  const now = (options.clock ?? SYSTEM_CLOCK).now();
  const graceMs = options.graceMs ?? DEFAULT_KEY_GRACE_MS;
  if (state.chain.length >= MAX_KEY_CHAIN) {
    throw new P2pError('LIMIT_REACHED', `this identity already rotated its key ${MAX_KEY_CHAIN} times, the most a key chain holds; make a new identity instead`);
  }
  checkWritable(state);
  const seed = randomBytes(PUBLIC_KEY_BYTES);
  const nextKey = ed25519FromSeed(seed);
  const nextSigner = { publicKey: nextKey.publicKey, sign: signerOf(nextKey.privateKey) };
  const chain = extendKeyChain(state.chain, identity, nextSigner, now.getTime());
  const retireAt = new Date(now.getTime() + graceMs).toISOString();
  const nextState: IdentityState = {
    ...state,
    seed,
    chain,
    retiring: [...state.retiring, { seed: state.seed, publicKey: identity.publicKey, retireAt }],
    confirmed: { ...state.confirmed },
  };
  const nextPath = `${state.path}.next`;
  const nextText = fileText(nextState);
  try {
    createFileAtomic(nextPath, nextText, IDENTITY_FILE_MODE);
  } catch (error) {
    if (isErrnoException(error) && error.code === 'EEXIST') {
      throw new P2pError('CONFLICT', `a key rotation is already under way (${nextPath} exists); wait for it to finish`);
    }
    // What failed may come after the file was linked in place (the directory's fsync): the caller is told the rotation did not happen, so the next start must not complete it.
    if (readFileIfExists(nextPath)?.equals(Buffer.from(nextText, 'utf8')) === true) removeIfExists(nextPath);
    throw new P2pError('IDENTITY_UNUSABLE', `cannot write the next identity key ${nextPath}: ${reasonOf(error)}`);
  }
  return {
    next: identityOf(nextState),
    commit: () => renameDurably(nextPath, state.path),
    abandon: () => removeIfExists(nextPath),
    inPlace: () => {
      const content = readFileIfExists(state.path);
      const onDisk = content === undefined ? undefined : parseIdentityFile(content, state.path);
      return typeof onDisk === 'object' && Buffer.compare(onDisk.seed, seed) === 0;
    },
  };
}

function removeIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (!isErrnoException(error) || error.code !== 'ENOENT') throw error;
  }
}

/**
 * Erases the seeds whose retire time has come (the file is rewritten
 * without them); the identity unchanged when none has. The chain stays: it
 * is public and certifies the current key.
 */
export function retireExpiredKeys(identity: NodeIdentity, now: Date): NodeIdentity {
  const state = stateOf(identity);
  const kept = state.retiring.filter((key) => Date.parse(key.retireAt) > now.getTime());
  if (kept.length === state.retiring.length) return identity;
  return rewrite(state, { ...state, retiring: kept });
}

/** Notes that a peer pinned the chain up to `seq`; a lower seq than already known changes nothing. */
export function recordConfirmed(identity: NodeIdentity, peerId: string, seq: number): NodeIdentity {
  const state = stateOf(identity);
  if (state.chain.length === 0 || (state.confirmed[peerId] ?? 0) >= seq) return identity;
  return rewrite(state, { ...state, confirmed: { ...state.confirmed, [peerId]: Math.min(seq, state.chain.length) } });
}

/** `state` is `from` changed; `from` must still be what the file holds. */
function rewrite(from: IdentityState, state: IdentityState): NodeIdentity {
  checkWritable(from);
  writeFileAtomic(state.path, fileText(state), IDENTITY_FILE_MODE);
  return identityOf(state);
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
