import { BoundedMemo } from '../common/bounded-memo';
import { hexOf } from '../common/hex';
import { publicKeyRefusal, type PublicKeyRefusal } from '../common/ed25519-public-key';
import { ed25519Verify, KEY_BYTES, sha256, SIGNATURE_BYTES } from './primitives';

/**
 * Key rotation on the wire (docs/protocol.md §19). A node's peer id names
 * its first key, the root; each later key is certified by a rotation
 * statement signed by both the key it replaces and itself, and the
 * statements together form the key chain.
 *
 *   statement = root [32] | seq u16 BE | old_key [32] | new_key [32] | time u64 BE | sig_old [64] | sig_new [64]   (234 bytes)
 *   signed    = "p2p-comm key rotation v1" | 0x00 | root | seq | old_key | new_key | time                          (131 bytes)
 *   chain     = count u8 (1..16) | statement × count
 *
 * Both keys sign the same bytes: the old key says "this is my successor",
 * the new one "I accept being it" (so nobody can claim someone else's key
 * as their successor). The label and its terminator keep these signatures
 * apart from every other one a node makes with the same key. `time` is
 * milliseconds since the epoch, informative only: no check depends on a
 * clock, so a chain stays valid however long a peer was away.
 */
export const KEY_ROTATION_LABEL = 'p2p-comm key rotation v1';
/** Rotations in an identity's life: links and handshake messages must hold the whole chain. */
export const MAX_KEY_CHAIN = 16;
export const ROTATION_FIELDS_BYTES = KEY_BYTES + 2 + 2 * KEY_BYTES + 8;
export const ROTATION_STATEMENT_BYTES = ROTATION_FIELDS_BYTES + 2 * SIGNATURE_BYTES;
export const MAX_KEY_CHAIN_BYTES = 1 + MAX_KEY_CHAIN * ROTATION_STATEMENT_BYTES;
const SIGNED_PREFIX = Buffer.from(`${KEY_ROTATION_LABEL}\0`, 'utf8');

export interface RotationFields {
  /** The identity's first key: the one its peer id names. */
  root: Uint8Array;
  /** 1 for the first rotation, then one more each time. */
  seq: number;
  oldKey: Uint8Array;
  newKey: Uint8Array;
  /** Milliseconds since the epoch. */
  time: number;
}

export interface RotationStatement extends RotationFields {
  oldSignature: Uint8Array;
  newSignature: Uint8Array;
}

/** Bytes that are not a chain or a statement in the layout above. */
export class KeyChainFormatError extends Error {
  override name = 'KeyChainFormatError';
}

/** A key that signs: the node identity's shape. */
export interface RotationSigner {
  publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

function fieldsBytes(fields: RotationFields): Buffer {
  if (fields.root.length !== KEY_BYTES || fields.oldKey.length !== KEY_BYTES || fields.newKey.length !== KEY_BYTES) {
    throw new KeyChainFormatError(`rotation keys are ${KEY_BYTES} bytes each`);
  }
  if (!Number.isInteger(fields.seq) || fields.seq < 1 || fields.seq > MAX_KEY_CHAIN) {
    throw new KeyChainFormatError(`rotation seq must be 1-${MAX_KEY_CHAIN}, got ${String(fields.seq)}`);
  }
  if (!Number.isSafeInteger(fields.time) || fields.time < 0) throw new KeyChainFormatError('rotation time must be a non-negative integer of milliseconds');
  const bytes = Buffer.alloc(ROTATION_FIELDS_BYTES);
  bytes.set(fields.root, 0);
  bytes.writeUInt16BE(fields.seq, KEY_BYTES);
  bytes.set(fields.oldKey, KEY_BYTES + 2);
  bytes.set(fields.newKey, 2 * KEY_BYTES + 2);
  bytes.writeBigUInt64BE(BigInt(fields.time), 3 * KEY_BYTES + 2);
  return bytes;
}

/** The 131 bytes both keys sign. */
export function rotationSigningInput(fields: RotationFields): Uint8Array {
  return new Uint8Array(Buffer.concat([SIGNED_PREFIX, fieldsBytes(fields)]));
}

export function encodeRotationStatement(statement: RotationStatement): Uint8Array {
  if (statement.oldSignature.length !== SIGNATURE_BYTES || statement.newSignature.length !== SIGNATURE_BYTES) {
    throw new KeyChainFormatError(`rotation signatures are ${SIGNATURE_BYTES} bytes each`);
  }
  return new Uint8Array(Buffer.concat([fieldsBytes(statement), statement.oldSignature, statement.newSignature]));
}

/** Exactly 234 bytes, seq 1-16, a time a number holds exactly; the signatures are not checked here. */
export function decodeRotationStatement(bytes: Uint8Array): RotationStatement {
  if (bytes.length !== ROTATION_STATEMENT_BYTES) throw new KeyChainFormatError(`a rotation statement is ${ROTATION_STATEMENT_BYTES} bytes, got ${bytes.length}`);
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const seq = data.readUInt16BE(KEY_BYTES);
  if (seq < 1 || seq > MAX_KEY_CHAIN) throw new KeyChainFormatError(`rotation seq must be 1-${MAX_KEY_CHAIN}, got ${seq}`);
  const time = Number(data.readBigUInt64BE(3 * KEY_BYTES + 2));
  if (!Number.isSafeInteger(time)) throw new KeyChainFormatError('rotation time is beyond any date');
  return {
    root: bytes.slice(0, KEY_BYTES),
    seq,
    oldKey: bytes.slice(KEY_BYTES + 2, 2 * KEY_BYTES + 2),
    newKey: bytes.slice(2 * KEY_BYTES + 2, 3 * KEY_BYTES + 2),
    time,
    oldSignature: bytes.slice(ROTATION_FIELDS_BYTES, ROTATION_FIELDS_BYTES + SIGNATURE_BYTES),
    newSignature: bytes.slice(ROTATION_FIELDS_BYTES + SIGNATURE_BYTES),
  };
}

/** A statement signed by the key it retires (`previous`) and the key it certifies (`next`). */
export function signRotationStatement(root: Uint8Array, seq: number, previous: RotationSigner, next: RotationSigner, time: number): RotationStatement {
  const fields = { root, seq, oldKey: previous.publicKey, newKey: next.publicKey, time };
  const signed = rotationSigningInput(fields);
  return { ...fields, oldSignature: previous.sign(signed), newSignature: next.sign(signed) };
}

export function encodeKeyChain(chain: readonly RotationStatement[]): Uint8Array {
  if (chain.length < 1 || chain.length > MAX_KEY_CHAIN) throw new KeyChainFormatError(`a key chain holds 1-${MAX_KEY_CHAIN} statements, got ${chain.length}`);
  return new Uint8Array(Buffer.concat([Uint8Array.of(chain.length), ...chain.map(encodeRotationStatement)]));
}

/** `count | statements`, every byte accounted for; links and signatures are verifyKeyChain's job. */
export function decodeKeyChain(bytes: Uint8Array): RotationStatement[] {
  const count = bytes[0];
  if (count === undefined || count < 1) throw new KeyChainFormatError('a key chain holds at least one statement');
  if (count > MAX_KEY_CHAIN) throw new KeyChainFormatError(`a key chain holds at most ${MAX_KEY_CHAIN} statements, got ${count}`);
  if (bytes.length !== 1 + count * ROTATION_STATEMENT_BYTES) {
    throw new KeyChainFormatError(`a key chain of ${count} statements is ${1 + count * ROTATION_STATEMENT_BYTES} bytes, got ${bytes.length}`);
  }
  const chain: RotationStatement[] = [];
  for (let i = 0; i < count; i += 1) {
    const at = 1 + i * ROTATION_STATEMENT_BYTES;
    chain.push(decodeRotationStatement(bytes.subarray(at, at + ROTATION_STATEMENT_BYTES)));
  }
  return chain;
}

/**
 * Why a chain is refused, for the first statement that fails, cheap checks
 * before signatures:
 *  - too_long: more statements than MAX_KEY_CHAIN (only a chain built in
 *    memory; the decoder refuses such bytes already);
 *  - other_root: a statement names another root than the first;
 *  - bad_seq: statement i does not carry seq i;
 *  - broken_link: old_key is not the root (first statement) or the
 *    previous statement's new_key;
 *  - repeated_key: new_key is a key the chain already went through, which
 *    would let an old key come back as current;
 *  - key_<refusal>: new_key (or the root) stands for no one
 *    (common/ed25519-public-key.ts);
 *  - bad_old_signature / bad_new_signature.
 */
export type KeyChainRefusal =
  | 'too_long'
  | 'other_root'
  | 'bad_seq'
  | 'broken_link'
  | 'repeated_key'
  | `key_${PublicKeyRefusal}`
  | 'bad_old_signature'
  | 'bad_new_signature';

export interface VerifiedKeyChain {
  root: Uint8Array;
  /** The last statement's new key. */
  currentKey: Uint8Array;
  /** Every key of the identity, root first, current last. */
  keys: Uint8Array[];
  statements: RotationStatement[];
}

export type KeyChainVerdict = { ok: true; chain: VerifiedKeyChain } | { ok: false; refusal: KeyChainRefusal; index: number };

/**
 * Verdicts by the SHA-256 of the chain's bytes: a rotated peer sends the
 * same chain at every handshake, and verifying it costs up to 32 signature
 * checks. A verdict is a function of the bytes alone, so a refusal is
 * remembered as safely as an acceptance.
 */
const VERDICTS_REMEMBERED = 256;
const verdicts = new BoundedMemo<string, KeyChainVerdict>(VERDICTS_REMEMBERED);

/**
 * Checks the chain in itself; which identity it must belong to is the
 * caller's question. Statements that cannot be encoded throw
 * KeyChainFormatError. `verifiedPrefix` statements at the start are ones
 * the caller compared byte for byte with a chain it verified before: their
 * signatures and keys are not checked again, so a known chain extended by a
 * forged statement costs that statement's checks alone.
 */
export function verifyKeyChain(chain: readonly RotationStatement[], verifiedPrefix = 0): KeyChainVerdict {
  if (chain.length === 0) throw new KeyChainFormatError('a key chain holds at least one statement');
  if (chain.length > MAX_KEY_CHAIN) return { ok: false, refusal: 'too_long', index: MAX_KEY_CHAIN };
  const prefix = Math.min(verifiedPrefix, chain.length);
  // A verdict that trusted a prefix holds only for callers that trust the same one.
  const verdict = verdicts.get(`${prefix}:${hexOf(sha256(encodeKeyChain(chain)))}`, () => verifyStatements(chain, prefix));
  // Each caller gets its own lists: one that changed them would otherwise change the remembered verdict.
  return verdict.ok ? { ok: true, chain: { ...verdict.chain, keys: [...verdict.chain.keys], statements: [...verdict.chain.statements] } } : verdict;
}

/**
 * Byte comparisons over the whole chain first, then the root's and each
 * new key's point check and signatures, statement by statement (from the
 * first one past `verifiedPrefix`): a forged statement is refused by its
 * old key's signature (a key already checked) before its new key costs a
 * point decoding.
 */
function verifyStatements(chain: readonly RotationStatement[], verifiedPrefix: number): KeyChainVerdict {
  const first = chain[0] as RotationStatement;
  const keys = [first.root];
  const seen = new Set([hexOf(first.root)]);
  for (const [index, statement] of chain.entries()) {
    const refuse = (refusal: KeyChainRefusal): KeyChainVerdict => ({ ok: false, refusal, index });
    if (Buffer.compare(statement.root, first.root) !== 0) return refuse('other_root');
    if (statement.seq !== index + 1) return refuse('bad_seq');
    if (Buffer.compare(statement.oldKey, keys[index] as Uint8Array) !== 0) return refuse('broken_link');
    if (seen.has(hexOf(statement.newKey))) return refuse('repeated_key');
    keys.push(statement.newKey);
    seen.add(hexOf(statement.newKey));
  }
  const rootRefusal = verifiedPrefix > 0 ? null : publicKeyRefusal(first.root);
  if (rootRefusal !== null) return { ok: false, refusal: `key_${rootRefusal}`, index: 0 };
  for (const [index, statement] of chain.entries()) {
    if (index < verifiedPrefix) continue;
    const refuse = (refusal: KeyChainRefusal): KeyChainVerdict => ({ ok: false, refusal, index });
    const signed = rotationSigningInput(statement);
    if (!ed25519Verify(statement.oldKey, signed, statement.oldSignature)) return refuse('bad_old_signature');
    const keyRefusal = publicKeyRefusal(statement.newKey);
    if (keyRefusal !== null) return refuse(`key_${keyRefusal}`);
    if (!ed25519Verify(statement.newKey, signed, statement.newSignature)) return refuse('bad_new_signature');
  }
  return { ok: true, chain: { root: first.root, currentKey: keys[keys.length - 1] as Uint8Array, keys, statements: [...chain] } };
}

/** The chain one rotation longer: `previous` (the current key) certifies `next`. Checks nothing the signers could not: verifyKeyChain does. */
export function extendKeyChain(chain: readonly RotationStatement[], previous: RotationSigner, next: RotationSigner, time: number): RotationStatement[] {
  // Before the first rotation the current key is the root itself.
  const root = chain[0]?.root ?? previous.publicKey;
  if (chain.length >= MAX_KEY_CHAIN) {
    throw new KeyChainFormatError(`an identity rotates its key at most ${MAX_KEY_CHAIN} times; make a new identity instead`);
  }
  return [...chain, signRotationStatement(root, chain.length + 1, previous, next, time)];
}

const DESCRIPTIONS: Record<KeyChainRefusal, string> = {
  too_long: `holds more than ${MAX_KEY_CHAIN} statements`,
  other_root: 'has statements for different identities',
  bad_seq: 'has statements out of sequence',
  broken_link: 'has a statement whose old key is not the key before it',
  repeated_key: 'returns to a key it already left',
  key_non_canonical: 'certifies a key not in canonical Ed25519 encoding',
  key_not_on_curve: 'certifies a key that is not an Ed25519 point',
  key_small_order: 'certifies a small-order key, for which anyone can sign',
  bad_old_signature: 'has a statement the old key did not sign',
  bad_new_signature: 'has a statement the new key did not sign',
};

/** What is wrong with the chain, to follow "the key chain" in a message. */
export function describeKeyChainRefusal(refusal: KeyChainRefusal): string {
  return DESCRIPTIONS[refusal];
}
