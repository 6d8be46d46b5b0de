/**
 * One message as it travels inside a signed batch (signed-batch.ts): the
 * leaf of the batch's Merkle tree. Layout, integers big-endian:
 *
 *   message_id [16] | created_at u64 (ms since the epoch) | type u8 (1 text, 2 json, 3 a2a_request, 4 a2a_response,
 *     5 file_offer, 6 file_control, 7 file_chunk, 8 group_control, 9 group_message) |
 *   correlation_len u8 | correlation_id [correlation_len] | payload [rest of the leaf]
 *
 * Sender, recipient and freshness are the batch's, signed once for all its
 * leaves. `created_at` is when the sender accepted the message, not when it
 * sent it, so a message's leaf is the same bytes at every transmission and
 * its leaf hash tells a retransmission (a duplicate) from another message
 * under the same id (`id_reused`).
 */
export const MESSAGE_ID_BYTES = 16;
/** The latest time a JavaScript Date holds (year 275760): created_at becomes the receiver's sent_at, a Date. */
export const MAX_CREATED_AT = 8_640_000_000_000_000;
/** A leaf without correlation id or payload. */
export const LEAF_FIXED_BYTES = MESSAGE_ID_BYTES + 8 + 1 + 1;
const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const CREATED_AT = MESSAGE_ID_BYTES;
const TYPE_AT = CREATED_AT + 8;
const CORRELATION_LENGTH_AT = TYPE_AT + 1;

/**
 * `a2a_request` and `a2a_response` carry the A2A binding (wire/a2a-payload.ts); only a node whose hello lists A2A_BINDING_CAPABILITY takes them.
 * The file types carry the payloads of wire/file-payload.ts, the group types those of wire/group-payload.ts; services, never plugins, send all of them.
 */
export type MessageType = 'text' | 'json' | 'a2a_request' | 'a2a_response' | 'file_offer' | 'file_control' | 'file_chunk' | 'group_control' | 'group_message';
const TYPE_CODES: Record<MessageType, number> = {
  text: 1,
  json: 2,
  a2a_request: 3,
  a2a_response: 4,
  file_offer: 5,
  file_control: 6,
  file_chunk: 7,
  group_control: 8,
  group_message: 9,
};
/** Every type, in code order. */
export const MESSAGE_TYPES = Object.keys(TYPE_CODES) as readonly MessageType[];
const TYPE_LIST = Object.entries(TYPE_CODES)
  .map(([type, code]) => `${code} (${type})`)
  .join(', ');
const TYPES_BY_CODE = new Map(Object.entries(TYPE_CODES).map(([type, code]) => [code, type as MessageType]));

export interface MessageLeaf {
  messageId: Uint8Array;
  /** Milliseconds since the epoch. */
  createdAt: number;
  type: MessageType;
  correlationId: string | null;
  payload: Uint8Array;
}

/** Why bytes are not a leaf this node takes. */
export type LeafRefusal = 'too_short' | 'time_out_of_range' | 'unknown_type' | 'correlation_truncated' | 'bad_correlation_id' | 'payload_too_large';

export class LeafFormatError extends Error {
  override name = 'LeafFormatError';

  constructor(
    readonly reason: LeafRefusal,
    message: string,
  ) {
    super(message);
  }
}

export function encodeLeaf(leaf: MessageLeaf): Uint8Array {
  if (leaf.messageId.length !== MESSAGE_ID_BYTES) throw new RangeError(`a message id is ${MESSAGE_ID_BYTES} bytes, not ${leaf.messageId.length}`);
  if (!Number.isSafeInteger(leaf.createdAt) || leaf.createdAt < 0 || leaf.createdAt > MAX_CREATED_AT) {
    throw new RangeError(`created_at is a whole number of milliseconds since the epoch, at most ${MAX_CREATED_AT}, not ${leaf.createdAt}`);
  }
  if (leaf.correlationId !== null && !CORRELATION_ID.test(leaf.correlationId)) throw new RangeError('the correlation id is not in the allowed format');
  const correlation = Buffer.from(leaf.correlationId ?? '', 'latin1');
  const out = Buffer.allocUnsafe(LEAF_FIXED_BYTES + correlation.length + leaf.payload.length);
  out.set(leaf.messageId, 0);
  out.writeBigUInt64BE(BigInt(leaf.createdAt), CREATED_AT);
  out[TYPE_AT] = TYPE_CODES[leaf.type];
  out[CORRELATION_LENGTH_AT] = correlation.length;
  out.set(correlation, LEAF_FIXED_BYTES);
  out.set(leaf.payload, LEAF_FIXED_BYTES + correlation.length);
  return out;
}

/** The id is readable in any leaf of at least LEAF_FIXED_BYTES, so that a refusal can name the message. */
export function leafMessageId(leaf: Uint8Array): Uint8Array {
  return leaf.subarray(0, MESSAGE_ID_BYTES);
}

/** Parses every field strictly; the payload is a view into `bytes`. */
export function decodeLeaf(bytes: Uint8Array, maxPayloadBytes: number): MessageLeaf {
  if (bytes.length < LEAF_FIXED_BYTES) throw new LeafFormatError('too_short', `a leaf of ${bytes.length} bytes is shorter than its ${LEAF_FIXED_BYTES} fixed bytes`);
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const createdAt = Number(data.readBigUInt64BE(CREATED_AT));
  if (createdAt > MAX_CREATED_AT) throw new LeafFormatError('time_out_of_range', `created_at ${createdAt} is past the latest date this node can hold (${MAX_CREATED_AT} ms)`);
  const typeCode = data[TYPE_AT];
  const type = TYPES_BY_CODE.get(typeCode as number);
  if (type === undefined) throw new LeafFormatError('unknown_type', `message type ${String(typeCode)} is none of ${TYPE_LIST}`);
  const correlationLength = data[CORRELATION_LENGTH_AT] as number;
  const payloadAt = LEAF_FIXED_BYTES + correlationLength;
  if (payloadAt > data.length) throw new LeafFormatError('correlation_truncated', `a correlation id of ${correlationLength} bytes runs past the end of the leaf`);
  const correlationText = data.toString('latin1', LEAF_FIXED_BYTES, payloadAt);
  if (correlationLength > 0 && !CORRELATION_ID.test(correlationText)) throw new LeafFormatError('bad_correlation_id', 'the correlation id is not in the allowed format');
  const payloadLength = data.length - payloadAt;
  if (payloadLength > maxPayloadBytes) throw new LeafFormatError('payload_too_large', `a payload of ${payloadLength} bytes exceeds the limit of ${maxPayloadBytes} bytes`);
  return {
    messageId: bytes.slice(0, MESSAGE_ID_BYTES),
    createdAt,
    type,
    correlationId: correlationLength === 0 ? null : correlationText,
    payload: bytes.subarray(payloadAt),
  };
}
