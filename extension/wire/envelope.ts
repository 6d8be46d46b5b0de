import { peerIdFromPublicKey } from '../common/peer-id';
import { ed25519Verify, KEY_BYTES, sha256, SIGNATURE_BYTES } from './primitives';

/**
 * The signed envelope (docs/protocol.md, "Envelope"): every message is
 * signed end to end by its sender, independently of the session that
 * carries it, over a SigV4-style canonical string. Binary layout:
 *
 *   version u8 (=1) | message_id [16] | sender [32] | recipient [32] |
 *   timestamp u64 BE (ms since the epoch) | nonce [16] | type u8 (1 text, 2 json) |
 *   correlation_len u8 | correlation_id | payload_len u32 BE | payload | signature [64]
 */
export const ENVELOPE_VERSION = 1;
export const MESSAGE_ID_BYTES = 16;
export const NONCE_BYTES = 16;
export const SIGNING_ALGORITHM = 'P2P-COMM-ENVELOPE1-ED25519-SHA256';
export const MAX_CORRELATION_ID_BYTES = 128;
const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type MessageType = 'text' | 'json';
const TYPE_CODES: Record<MessageType, number> = { text: 1, json: 2 };

const HEADER_BYTES = 1 + MESSAGE_ID_BYTES + 2 * KEY_BYTES + 8 + NONCE_BYTES + 1 + 1;

export interface Envelope {
  messageId: Uint8Array;
  sender: Uint8Array;
  recipient: Uint8Array;
  /** Milliseconds since the epoch. */
  timestamp: number;
  nonce: Uint8Array;
  type: MessageType;
  correlationId: string | null;
  payload: Uint8Array;
}

export interface SignedEnvelope extends Envelope {
  signature: Uint8Array;
}

export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** The string the sender signs: each field on its own line, the payload by its hash. */
export function canonicalString(envelope: Envelope): string {
  return [
    SIGNING_ALGORITHM,
    hex(envelope.messageId),
    peerIdFromPublicKey(envelope.sender),
    peerIdFromPublicKey(envelope.recipient),
    String(envelope.timestamp),
    hex(envelope.nonce),
    envelope.type,
    envelope.correlationId ?? '',
    hex(sha256(envelope.payload)),
  ].join('\n');
}

export function signEnvelope(envelope: Envelope, sign: (message: Uint8Array) => Uint8Array): SignedEnvelope {
  return { ...envelope, signature: sign(Buffer.from(canonicalString(envelope), 'utf8')) };
}

export function verifyEnvelope(envelope: SignedEnvelope): boolean {
  return ed25519Verify(envelope.sender, Buffer.from(canonicalString(envelope), 'utf8'), envelope.signature);
}

export function encodeEnvelope(envelope: SignedEnvelope): Uint8Array {
  const correlation = Buffer.from(envelope.correlationId ?? '', 'ascii');
  const out = Buffer.allocUnsafe(HEADER_BYTES + correlation.length + 4 + envelope.payload.length + SIGNATURE_BYTES);
  let at = 0;
  out[at++] = ENVELOPE_VERSION;
  out.set(envelope.messageId, at);
  at += MESSAGE_ID_BYTES;
  out.set(envelope.sender, at);
  at += KEY_BYTES;
  out.set(envelope.recipient, at);
  at += KEY_BYTES;
  out.writeBigUInt64BE(BigInt(envelope.timestamp), at);
  at += 8;
  out.set(envelope.nonce, at);
  at += NONCE_BYTES;
  out[at++] = TYPE_CODES[envelope.type];
  out[at++] = correlation.length;
  out.set(correlation, at);
  at += correlation.length;
  out.writeUInt32BE(envelope.payload.length, at);
  at += 4;
  out.set(envelope.payload, at);
  at += envelope.payload.length;
  out.set(envelope.signature, at);
  return out;
}

/** Parses every field strictly; the message id is readable as soon as the header is, for the refusal ack. */
export function decodeEnvelope(bytes: Uint8Array, maxPayloadBytes: number): SignedEnvelope {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (data.length < HEADER_BYTES + 4 + SIGNATURE_BYTES) throw new EnvelopeError(`envelope of ${data.length} bytes is too short`);
  if (data[0] !== ENVELOPE_VERSION) throw new EnvelopeError(`envelope version ${String(data[0])} is not ${ENVELOPE_VERSION}`);
  let at = 1;
  const take = (length: number): Uint8Array => {
    const slice = new Uint8Array(data.subarray(at, at + length));
    at += length;
    return slice;
  };
  const messageId = take(MESSAGE_ID_BYTES);
  const sender = take(KEY_BYTES);
  const recipient = take(KEY_BYTES);
  const timestamp = Number(data.readBigUInt64BE(at));
  at += 8;
  const nonce = take(NONCE_BYTES);
  const typeCode = data[at++];
  const type = typeCode === 1 ? 'text' : typeCode === 2 ? 'json' : null;
  if (type === null) throw new EnvelopeError(`unknown message type ${String(typeCode)}`);
  const correlationLength = data[at++] as number;
  if (data.length < at + correlationLength + 4 + SIGNATURE_BYTES) throw new EnvelopeError('envelope is truncated');
  const correlationText = data.toString('latin1', at, at + correlationLength);
  at += correlationLength;
  if (correlationLength > 0 && !CORRELATION_ID.test(correlationText)) throw new EnvelopeError('correlation id is not in the allowed format');
  const payloadLength = data.readUInt32BE(at);
  at += 4;
  if (payloadLength > maxPayloadBytes) throw new PayloadTooLarge(payloadLength, maxPayloadBytes);
  if (data.length !== at + payloadLength + SIGNATURE_BYTES) throw new EnvelopeError('envelope length does not match its payload length');
  const payload = take(payloadLength);
  const signature = take(SIGNATURE_BYTES);
  if (!Number.isSafeInteger(timestamp)) throw new EnvelopeError('timestamp is out of range');
  return { messageId, sender, recipient, timestamp, nonce, type, correlationId: correlationLength === 0 ? null : correlationText, payload, signature };
}

/** Read before the rest, so a refusal can name the message. */
export function peekMessageId(bytes: Uint8Array): Uint8Array | null {
  return bytes.length >= 1 + MESSAGE_ID_BYTES ? bytes.slice(1, 1 + MESSAGE_ID_BYTES) : null;
}

export class PayloadTooLarge extends EnvelopeError {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`payload of ${size} bytes exceeds the limit of ${limit} bytes`);
  }
}
