import { P2pError } from '../common/errors';
import { hexOf } from '../common/hex';
import { cachedPublicKeyFromPeerId, peerIdFromPublicKey } from '../common/peer-id';
import type { RecordReader, RecordWriter } from './record-log';
import { quoteUntrusted } from '../common/quote-text';

export type { MessageType } from '../wire/message-leaf';
import type { MessageType } from '../wire/message-leaf';

/**
 * The fields both stores record for every message, laid out alike in
 * inbox.log and outbox.log:
 *
 *   Fields = message id 16 | peer key 32 (the key the peer id spells)
 *            | type u8 (0 text, 1 json, 2 a2a_request, 3 a2a_response, 4 file_offer,
 *                       5 file_control, 6 file_chunk, 7 group_control, 8 group_message)
 *            | correlation id length u8 (0: none) | correlation id ASCII
 */
export interface MessageFields {
  messageId: string;
  peerId: string;
  type: MessageType;
  correlationId: string | null;
}

export const MESSAGE_ID_PATTERN = /^[0-9a-f]{32}$/;

export const CORRELATION_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** Append only: a record holds the index, and old files must read the same. */
const MESSAGE_TYPES: readonly MessageType[] = [
  'text',
  'json',
  'a2a_request',
  'a2a_response',
  'file_offer',
  'file_control',
  'file_chunk',
  'group_control',
  'group_message',
];

/** Operations check their input earlier; this guards the file, which must only hold what it can read back. */
export function checkMessageFields(fields: MessageFields): void {
  if (!MESSAGE_ID_PATTERN.test(fields.messageId)) {
    throw new P2pError('INVALID_INPUT', `a message id is 32 lower-case hex characters, got ${quoteUntrusted(fields.messageId)}`);
  }
  cachedPublicKeyFromPeerId(fields.peerId);
  if (!MESSAGE_TYPES.includes(fields.type)) {
    throw new P2pError('INVALID_INPUT', `a message type is one of ${MESSAGE_TYPES.join(', ')}, got ${quoteUntrusted(fields.type)}`);
  }
  if (fields.correlationId !== null && !CORRELATION_ID_PATTERN.test(fields.correlationId)) {
    throw new P2pError(
      'INVALID_INPUT',
      `a correlation id is 1 to 128 characters A-Z, a-z, 0-9 and . _ : -, got ${JSON.stringify(fields.correlationId.slice(0, 140))}`,
    );
  }
}

export function messageFieldsBytes(fields: MessageFields): number {
  return 16 + 32 + 1 + 1 + (fields.correlationId?.length ?? 0);
}

export function writeMessageFields(writer: RecordWriter, fields: MessageFields): RecordWriter {
  // ASCII (CORRELATION_ID_PATTERN): as many bytes as characters.
  const correlationId = fields.correlationId ?? '';
  return writer
    .hex(fields.messageId, 16)
    .bytes(cachedPublicKeyFromPeerId(fields.peerId))
    .u8(MESSAGE_TYPES.indexOf(fields.type))
    .u8(correlationId.length)
    .latin1(correlationId);
}

export function readMessageFields(reader: RecordReader): MessageFields {
  const messageId = hexOf(reader.bytes(16));
  const peerId = peerIdFromPublicKey(reader.bytes(32));
  const type = codeOf(MESSAGE_TYPES, reader.u8(), 'message type');
  const correlationLength = reader.u8();
  const correlationId = correlationLength === 0 ? null : Buffer.from(reader.bytes(correlationLength)).toString('latin1');
  if (correlationId !== null && !CORRELATION_ID_PATTERN.test(correlationId)) throw new Error('its correlation id is not one');
  return { messageId, peerId, type, correlationId };
}

/** One entry of a record's enumeration, or an error naming what is wrong. */
export function codeOf<T>(values: readonly T[], code: number, what: string): T {
  const value = values[code];
  if (value === undefined) throw new Error(`it holds ${code}, which is no ${what}`);
  return value;
}
