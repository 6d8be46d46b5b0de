import { ed25519Verify, KEY_BYTES, SIGNATURE_BYTES } from './primitives';

/**
 * A revoker's signed statement that it no longer trusts a peer, sent on the
 * live session right before it closes (docs/protocol.md §6, "Revocation").
 * Body, 136 bytes:
 *
 *   revoker [32] | revoked [32] | timestamp u64 BE (ms since the epoch) | signature [64]
 *
 * The signature is Ed25519 by `revoker` over
 *
 *   "p2p-comm revocation v1" | 0x00 | revoker | revoked | timestamp u64 BE
 *
 * The label and its terminator keep this signature apart from every other
 * one a node makes with the same key (handshake, batch, receipt).
 */
export const REVOCATION_LABEL = 'p2p-comm revocation v1';
export const REVOCATION_NOTICE_BYTES = 2 * KEY_BYTES + 8 + SIGNATURE_BYTES;
const SIGNED_PREFIX = Buffer.from(`${REVOCATION_LABEL}\0`, 'utf8');
const SIGNED_FIELDS_BYTES = 2 * KEY_BYTES + 8;

export interface RevocationNotice {
  revoker: Uint8Array;
  revoked: Uint8Array;
  /** Milliseconds since the epoch. */
  timestamp: number;
}

/** Why a notice is refused; counted as `revocation_notice_<reason>`. */
export type NoticeRefusal = 'malformed' | 'wrong_revoker' | 'wrong_recipient' | 'stale_timestamp' | 'future_timestamp' | 'bad_signature';

export interface NoticeContext {
  /** The pinned key of the peer whose session carried the notice: only it can revoke itself. */
  revoker: Uint8Array;
  /** This node's key. */
  me: Uint8Array;
  now: number;
  clockSkewMs: number;
}

function signedFields(notice: RevocationNotice): Buffer {
  const fields = Buffer.alloc(SIGNED_FIELDS_BYTES);
  fields.set(notice.revoker, 0);
  fields.set(notice.revoked, KEY_BYTES);
  fields.writeBigUInt64BE(BigInt(notice.timestamp), 2 * KEY_BYTES);
  return fields;
}

/** The bytes the revoker signs. */
export function revocationSigningInput(notice: RevocationNotice): Uint8Array {
  return Buffer.concat([SIGNED_PREFIX, signedFields(notice)]);
}

/** The notice body, signed by `revoker` (whose key becomes the notice's revoker). */
export function signRevocationNotice(
  revoker: { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array },
  revoked: Uint8Array,
  timestamp: number,
): Uint8Array {
  const notice = { revoker: revoker.publicKey, revoked, timestamp };
  return Buffer.concat([signedFields(notice), revoker.sign(revocationSigningInput(notice))]);
}

/** Null when the body has the wrong length or a timestamp beyond what a number holds exactly. */
export function decodeRevocationNotice(body: Uint8Array): { notice: RevocationNotice; signature: Uint8Array } | null {
  if (body.length !== REVOCATION_NOTICE_BYTES) return null;
  const data = Buffer.from(body.buffer, body.byteOffset, body.length);
  const timestamp = Number(data.readBigUInt64BE(2 * KEY_BYTES));
  if (!Number.isSafeInteger(timestamp)) return null;
  return {
    notice: { revoker: body.slice(0, KEY_BYTES), revoked: body.slice(KEY_BYTES, 2 * KEY_BYTES), timestamp },
    signature: body.slice(SIGNED_FIELDS_BYTES),
  };
}

/**
 * The receiver's checks, cheap ones first and the signature last. Returns
 * why the notice is refused, or null when it is the session peer revoking
 * this node, recently, in its own hand.
 */
export function checkRevocationNotice(body: Uint8Array, context: NoticeContext): NoticeRefusal | null {
  const decoded = decodeRevocationNotice(body);
  if (decoded === null) return 'malformed';
  const { notice, signature } = decoded;
  if (Buffer.compare(notice.revoker, context.revoker) !== 0) return 'wrong_revoker';
  if (Buffer.compare(notice.revoked, context.me) !== 0) return 'wrong_recipient';
  if (notice.timestamp < context.now - context.clockSkewMs) return 'stale_timestamp';
  if (notice.timestamp > context.now + context.clockSkewMs) return 'future_timestamp';
  if (!ed25519Verify(context.revoker, revocationSigningInput(notice), signature)) return 'bad_signature';
  return null;
}
