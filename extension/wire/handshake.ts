import { describePublicKeyRefusal, publicKeyRefusal, refusalOfVerifiedKey, type PublicKeyRefusal } from '../common/ed25519-public-key';
import {
  aeadOpen,
  aeadSeal,
  generateEphemeral,
  ed25519Verify,
  hkdfSha256,
  KEY_BYTES,
  NONCE_BYTES,
  sha256,
  SIGNATURE_BYTES,
  TAG_BYTES,
  x25519,
  type EphemeralKeyPair,
} from './primitives';
import {
  decodeInitiatorPayload,
  decodeResponderPayload,
  encodeInitiatorPayload,
  encodeResponderPayload,
  MAX_NAME_BYTES,
  NAME_LENGTH_BYTES,
  PayloadError,
  REQUEST_ID_BYTES,
  type InitiatorPayload,
  type ResponderPayload,
} from './handshake-payload';
import { MAX_KEY_CHAIN_BYTES, verifyKeyChain, describeKeyChainRefusal, type KeyChainRefusal, type RotationStatement, type VerifiedKeyChain } from './key-rotation';

/**
 * The p2p-comm handshake (docs/protocol.md, "Handshake"): SIGMA-I over
 * X25519 ephemerals, each side proving its Ed25519 identity by signing the
 * transcript so far together with its own key, inside AEAD encryption under
 * keys derived from the ephemeral secret. Three messages, then session keys
 * per direction. Pure functions of bytes: sockets live elsewhere.
 *
 *   1 I->R  0x01 | version | e_I
 *   2 R->I  0x02 | e_R | seal(k_r, th2; S_R | sig_R | payload_R)
 *   3 I->R  0x03 | seal(k_i, th3; S_I | sig_I | payload_I)
 *
 * A payload may end with the sender's key chain (key-rotation.ts); the
 * size caps leave room for the longest one, and are still checked before
 * anything is decrypted.
 */

export const PROTOCOL_VERSION = 2;
export const MSG_INIT = 0x01;
export const MSG_RESPONSE = 0x02;
export const MSG_FINISH = 0x03;

export const INIT_BYTES = 2 + KEY_BYTES;
const PROOF_BYTES = KEY_BYTES + SIGNATURE_BYTES;
const RESPONSE_MIN = 1 + KEY_BYTES + PROOF_BYTES + NAME_LENGTH_BYTES + TAG_BYTES;
const RESPONSE_MAX = RESPONSE_MIN + MAX_NAME_BYTES + MAX_KEY_CHAIN_BYTES;
const FINISH_MIN = 1 + PROOF_BYTES + 1 + REQUEST_ID_BYTES + 2 + NAME_LENGTH_BYTES + TAG_BYTES;
const FINISH_MAX = FINISH_MIN + MAX_NAME_BYTES + MAX_KEY_CHAIN_BYTES;
/** Largest handshake message: anything bigger is refused before parsing. */
export const MAX_HANDSHAKE_MESSAGE_BYTES = Math.max(INIT_BYTES, RESPONSE_MAX, FINISH_MAX);

const LABEL = 'p2p-comm/2';
const ZERO_NONCE = new Uint8Array(NONCE_BYTES);

export type HandshakeFailure =
  | 'malformed'
  | 'unsupported_version'
  | 'unexpected_message'
  | 'weak_key'
  | `identity_key_${PublicKeyRefusal}`
  | 'decrypt_failed'
  | 'bad_signature'
  | 'key_mismatch'
  | 'self_connection'
  | `key_chain_${KeyChainRefusal}`;

export class HandshakeError extends Error {
  override name = 'HandshakeError';

  constructor(
    readonly reason: HandshakeFailure,
    message: string,
    /** For key_mismatch: the identity the other side proved instead. */
    readonly presentedKey: Uint8Array | null = null,
    /** For key_mismatch: what the chain the other side sent (if any) failed to show. */
    readonly chain: ChainMismatch | null = null,
  ) {
    super(message);
  }
}

/** Signs with the node's long-term Ed25519 key. */
export interface StaticIdentity {
  publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export interface SessionKeys {
  /** Key for what this side sends. */
  send: Uint8Array;
  /** Key for what this side receives. */
  receive: Uint8Array;
  /** Hash of the whole handshake; unique per connection. */
  transcriptHash: Uint8Array;
}

export interface PeerProof<P> {
  publicKey: Uint8Array;
  payload: P;
  /**
   * Only on the initiator's side, when the responder proved another key
   * than the expected one: the chain it sent, verified, which holds the
   * expected key before `publicKey`, its last key. Whether the chain's root
   * and earlier statements agree with what this node holds is the caller's
   * to decide (TrustStore.applyKeyChain). A responder's `payload.keyChain`
   * is only checked to end at `publicKey` (a bounded, cheap check): the
   * signatures are verified by the consent decision, and only for a chain
   * that names a peer this node knows (or for a pair request given a token).
   */
  keyChain?: VerifiedKeyChain;
}

/**
 * Why a key presented in a peer's name was refused (the `chain` field of
 * `p2p.peer.key_mismatch`): no chain came (`none`), the chain does not
 * verify (`invalid_<refusal>`), it does not hold the expected key or roots
 * at another identity (`other_root`), the key is one the peer already left
 * (`older_key`), or the chain forks from the one this node holds
 * (`conflict`). The handshake itself tells the first three; the last two
 * come from what the trust store holds.
 */
export type ChainMismatch = 'none' | 'other_root' | 'older_key' | 'conflict' | `invalid_${KeyChainRefusal}`;

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function signatureInput(role: 'initiator' | 'responder', transcriptHash: Uint8Array, ownKey: Uint8Array): Uint8Array {
  return concat(Buffer.from(`${LABEL} ${role} signature\0`, 'utf8'), transcriptHash, ownKey);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

function dh(ephemeral: EphemeralKeyPair, peer: Uint8Array): Uint8Array {
  try {
    return x25519(ephemeral.privateKey, peer);
  } catch {
    throw new HandshakeError('weak_key', 'peer ephemeral key is not usable (low-order point)');
  }
}

function handshakeKeys(secret: Uint8Array, th2: Uint8Array): { responder: Uint8Array; initiator: Uint8Array } {
  return {
    responder: hkdfSha256(secret, th2, `${LABEL} handshake responder`),
    initiator: hkdfSha256(secret, th2, `${LABEL} handshake initiator`),
  };
}

function sessionKeys(secret: Uint8Array, th4: Uint8Array, role: 'initiator' | 'responder'): SessionKeys {
  const i2r = hkdfSha256(secret, th4, `${LABEL} initiator to responder`);
  const r2i = hkdfSha256(secret, th4, `${LABEL} responder to initiator`);
  return role === 'initiator'
    ? { send: i2r, receive: r2i, transcriptHash: th4 }
    : { send: r2i, receive: i2r, transcriptHash: th4 };
}

/**
 * Splits `S | sig | payload`, checks the signature over the given
 * transcript hash and refuses a static key that stands for no one. The
 * signature check alone would not do: OpenSSL passes R = identity, S = 0
 * for any message under the identity point. A signature that holds leaves
 * the cheap part of the key check (refusalOfVerifiedKey); one that does
 * not gets the whole check, so that a key that is no point is named as
 * such, not as a bad signature.
 */
function openProof(plaintext: Uint8Array, role: 'initiator' | 'responder', transcriptHash: Uint8Array): { publicKey: Uint8Array; payload: Uint8Array } {
  const publicKey = plaintext.slice(0, KEY_BYTES);
  const signature = plaintext.subarray(KEY_BYTES, PROOF_BYTES);
  const holds = ed25519Verify(publicKey, signatureInput(role, transcriptHash, publicKey), signature);
  const refusal = holds ? refusalOfVerifiedKey(publicKey) : publicKeyRefusal(publicKey);
  if (refusal !== null) throw new HandshakeError(`identity_key_${refusal}`, `${role} identity key ${describePublicKeyRefusal(refusal)}`);
  if (!holds) throw new HandshakeError('bad_signature', `${role} signature over the transcript is not valid`);
  return { publicKey, payload: plaintext.subarray(PROOF_BYTES) };
}

function decodePayload<P>(decode: (bytes: Uint8Array) => P, bytes: Uint8Array): P {
  try {
    return decode(bytes);
  } catch (error) {
    if (error instanceof PayloadError) throw new HandshakeError('malformed', error.message);
    throw error;
  }
}

/**
 * A chain is carried only by a rotated node and ends at the key that node
 * proved: one ending elsewhere is refused before anything is verified.
 */
function checkChainEnd<P extends { keyChain?: RotationStatement[] }>(publicKey: Uint8Array, payload: P, role: 'initiator' | 'responder'): P {
  const last = payload.keyChain?.at(-1)?.newKey;
  if (payload.keyChain === undefined || (last !== undefined && sameBytes(last, publicKey))) return payload;
  throw new HandshakeError('key_chain_broken_link', `${role} key chain does not end at the key it proved`, publicKey);
}

/**
 * The responder proved `presented` where `expected` was meant: accepted
 * only with a chain that ends at `presented` and holds `expected` before
 * its end, then verified. The position checks are byte comparisons, made
 * before any signature.
 */
function certifiedChain(expected: Uint8Array, presented: Uint8Array, payload: ResponderPayload): VerifiedKeyChain {
  const mismatch = (chain: ChainMismatch, why: string): HandshakeError =>
    new HandshakeError('key_mismatch', `the node at this address proved a different identity than the one expected${why}`, presented, chain);
  const statements = payload.keyChain;
  if (statements === undefined) throw mismatch('none', '');
  const last = statements.at(-1)?.newKey;
  if (last === undefined || !sameBytes(last, presented)) throw mismatch('invalid_broken_link', ', and its key chain does not end at the key it proved');
  const earlier = [statements[0]?.root, ...statements.slice(0, -1).map((statement) => statement.newKey)];
  if (!earlier.some((key) => key !== undefined && sameBytes(key, expected))) throw mismatch('other_root', ', and its key chain does not hold the expected key');
  const verdict = verifyKeyChain(statements);
  if (!verdict.ok) {
    throw mismatch(`invalid_${verdict.refusal}`, `, and its key chain ${describeKeyChainRefusal(verdict.refusal)} (statement ${verdict.index + 1})`);
  }
  return verdict.chain;
}

/** A payload that does not parse cannot carry a chain: the key stays unexpected. */
function decodeWhenVouched(presented: Uint8Array, bytes: Uint8Array): ResponderPayload {
  try {
    return decodeResponderPayload(bytes);
  } catch (error) {
    if (!(error instanceof PayloadError)) throw error;
    throw new HandshakeError('key_mismatch', 'the node at this address proved a different identity than the one expected', presented, 'none');
  }
}

function checkType(message: Uint8Array, type: number, min: number, max: number, name: string): void {
  if (message[0] !== type) throw new HandshakeError('unexpected_message', `expected ${name} (type ${type}), got type ${String(message[0])}`);
  if (message.length < min || message.length > max) {
    throw new HandshakeError('malformed', `${name} is ${message.length} bytes; expected ${min === max ? min : `${min}-${max}`}`);
  }
}

/** The dialling side. `expectedPeer` is the key the initiator means to reach; anyone else is refused before it reveals itself. */
export class InitiatorHandshake {
  private init: Uint8Array | null = null;
  private done = false;

  /** `ephemeral` is for test vectors only; a real handshake always draws a fresh one. */
  constructor(
    private readonly identity: StaticIdentity,
    private readonly expectedPeer: Uint8Array,
    private readonly payload: InitiatorPayload,
    private readonly ephemeral: EphemeralKeyPair = generateEphemeral(),
  ) {}

  start(): Uint8Array {
    if (this.init !== null) throw new HandshakeError('unexpected_message', 'handshake already started');
    this.init = concat(Uint8Array.of(MSG_INIT, PROTOCOL_VERSION), this.ephemeral.publicKey);
    return this.init;
  }

  /** Consumes message 2; returns message 3, the responder's proof and the session keys. */
  finish(response: Uint8Array): { finish: Uint8Array; responder: PeerProof<ResponderPayload>; keys: SessionKeys } {
    if (this.init === null || this.done) throw new HandshakeError('unexpected_message', 'no handshake in progress');
    this.done = true;
    checkType(response, MSG_RESPONSE, RESPONSE_MIN, RESPONSE_MAX, 'handshake response');
    const responderEphemeral = response.subarray(1, 1 + KEY_BYTES);
    const secret = dh(this.ephemeral, responderEphemeral);
    const th2 = sha256(this.init, Uint8Array.of(MSG_RESPONSE), responderEphemeral);
    const keys = handshakeKeys(secret, th2);
    const plaintext = aeadOpen(keys.responder, ZERO_NONCE, response.subarray(1 + KEY_BYTES), th2);
    if (plaintext === null) throw new HandshakeError('decrypt_failed', 'handshake response does not decrypt: altered in transit or not for this handshake');
    const proof = openProof(plaintext, 'responder', th2);
    if (sameBytes(proof.publicKey, this.identity.publicKey)) {
      throw new HandshakeError('self_connection', 'the address leads back to this node');
    }
    // Another key than the expected one passes only with a chain certifying it; anything short of that is key_mismatch.
    let responder: PeerProof<ResponderPayload>;
    if (sameBytes(proof.publicKey, this.expectedPeer)) {
      responder = { publicKey: proof.publicKey, payload: checkChainEnd(proof.publicKey, decodePayload(decodeResponderPayload, proof.payload), 'responder') };
    } else {
      const payload = decodeWhenVouched(proof.publicKey, proof.payload);
      responder = { publicKey: proof.publicKey, payload, keyChain: certifiedChain(this.expectedPeer, proof.publicKey, payload) };
    }

    const th3 = sha256(this.init, response);
    const signature = this.identity.sign(signatureInput('initiator', th3, this.identity.publicKey));
    const sealed = aeadSeal(keys.initiator, ZERO_NONCE, concat(this.identity.publicKey, signature, encodeInitiatorPayload(this.payload)), th3);
    const finish = concat(Uint8Array.of(MSG_FINISH), sealed);
    return {
      finish,
      responder,
      keys: sessionKeys(secret, sha256(this.init, response, finish), 'initiator'),
    };
  }
}

/** The accepting side. Learns who the initiator is only from message 3. */
export class ResponderHandshake {
  private state: { init: Uint8Array; response: Uint8Array; secret: Uint8Array; initiatorKey: Uint8Array } | null = null;
  private done = false;

  /** `ephemeral` is for test vectors only; a real handshake always draws a fresh one. */
  constructor(
    private readonly identity: StaticIdentity,
    private readonly payload: ResponderPayload,
    private readonly ephemeral: EphemeralKeyPair = generateEphemeral(),
  ) {}

  /** Consumes message 1; returns message 2. */
  respond(init: Uint8Array): Uint8Array {
    if (this.state !== null) throw new HandshakeError('unexpected_message', 'handshake already answered');
    checkType(init, MSG_INIT, INIT_BYTES, INIT_BYTES, 'handshake init');
    if (init[1] !== PROTOCOL_VERSION) {
      throw new HandshakeError('unsupported_version', `peer speaks protocol version ${String(init[1])}; this node speaks ${PROTOCOL_VERSION}`);
    }
    const initiatorEphemeral = init.slice(2);
    const secret = dh(this.ephemeral, initiatorEphemeral);
    const th2 = sha256(init, Uint8Array.of(MSG_RESPONSE), this.ephemeral.publicKey);
    const keys = handshakeKeys(secret, th2);
    const signature = this.identity.sign(signatureInput('responder', th2, this.identity.publicKey));
    const sealed = aeadSeal(keys.responder, ZERO_NONCE, concat(this.identity.publicKey, signature, encodeResponderPayload(this.payload)), th2);
    const response = concat(Uint8Array.of(MSG_RESPONSE), this.ephemeral.publicKey, sealed);
    this.state = { init: new Uint8Array(init), response, secret, initiatorKey: keys.initiator };
    return response;
  }

  /** Consumes message 3; returns the initiator's proven identity, what it asks for, and the session keys. */
  finish(finish: Uint8Array): { initiator: PeerProof<InitiatorPayload>; keys: SessionKeys } {
    if (this.state === null || this.done) throw new HandshakeError('unexpected_message', 'handshake finish before response');
    this.done = true;
    checkType(finish, MSG_FINISH, FINISH_MIN, FINISH_MAX, 'handshake finish');
    const { init, response, secret, initiatorKey } = this.state;
    const th3 = sha256(init, response);
    const plaintext = aeadOpen(initiatorKey, ZERO_NONCE, finish.subarray(1), th3);
    if (plaintext === null) throw new HandshakeError('decrypt_failed', 'handshake finish does not decrypt: altered in transit or replayed');
    const proof = openProof(plaintext, 'initiator', th3);
    if (sameBytes(proof.publicKey, this.identity.publicKey)) {
      throw new HandshakeError('self_connection', 'a node cannot connect to itself');
    }
    return {
      initiator: { publicKey: proof.publicKey, payload: checkChainEnd(proof.publicKey, decodePayload(decodeInitiatorPayload, proof.payload), 'initiator') },
      keys: sessionKeys(secret, sha256(init, response, finish), 'responder'),
    };
  }
}
