/**
 * What each side says about itself inside the encrypted part of the
 * handshake. Fixed layouts, decoded strictly: every byte is accounted for.
 *
 * Responder payload: name_len u16 BE | name (UTF-8)
 * Initiator payload: intent u8 | request_id [16] | listen_port u16 BE | name_len u16 BE | name (UTF-8)
 *
 * A display name is at most 64 code points, so at most 256 bytes of UTF-8.
 */

export const REQUEST_ID_BYTES = 16;
export const MAX_NAME_BYTES = 256;
export const NAME_LENGTH_BYTES = 2;

export const Intent = {
  /** A trusted peer opening a session. */
  SESSION: 1,
  /** An unknown (or not yet trusting) peer asking for consent to pair. */
  PAIR_REQUEST: 2,
} as const;
export type Intent = (typeof Intent)[keyof typeof Intent];

export interface ResponderPayload {
  displayName: string;
}

export interface InitiatorPayload {
  intent: Intent;
  /** Zero bytes for a session. */
  requestId: Uint8Array;
  /** Where the initiator accepts connections (with the address it connected from); 0 when it does not listen. */
  listenPort: number;
  displayName: string;
}

export class PayloadError extends Error {
  override name = 'PayloadError';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function encodeName(name: string): Uint8Array {
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length > MAX_NAME_BYTES) throw new PayloadError(`display name is ${bytes.length} bytes; at most ${MAX_NAME_BYTES}`);
  const length = Buffer.alloc(NAME_LENGTH_BYTES);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function decodeName(bytes: Uint8Array, offset: number): string {
  if (bytes.length < offset + NAME_LENGTH_BYTES) throw new PayloadError('display name length is missing');
  const length = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readUInt16BE(offset);
  if (length > MAX_NAME_BYTES || offset + NAME_LENGTH_BYTES + length !== bytes.length) {
    throw new PayloadError('display name length does not match the payload');
  }
  try {
    return utf8.decode(bytes.subarray(offset + NAME_LENGTH_BYTES));
  } catch {
    throw new PayloadError('display name is not valid UTF-8');
  }
}

export function encodeResponderPayload(payload: ResponderPayload): Uint8Array {
  return encodeName(payload.displayName);
}

export function decodeResponderPayload(bytes: Uint8Array): ResponderPayload {
  return { displayName: decodeName(bytes, 0) };
}

export function encodeInitiatorPayload(payload: InitiatorPayload): Uint8Array {
  if (payload.requestId.length !== REQUEST_ID_BYTES) throw new PayloadError('request id must be 16 bytes');
  if (!Number.isInteger(payload.listenPort) || payload.listenPort < 0 || payload.listenPort > 65535) {
    throw new PayloadError('listen port must be 0-65535');
  }
  const head = Buffer.alloc(1 + REQUEST_ID_BYTES + 2);
  head[0] = payload.intent;
  head.set(payload.requestId, 1);
  head.writeUInt16BE(payload.listenPort, 1 + REQUEST_ID_BYTES);
  return Buffer.concat([head, encodeName(payload.displayName)]);
}

export function decodeInitiatorPayload(bytes: Uint8Array): InitiatorPayload {
  const nameOffset = 1 + REQUEST_ID_BYTES + 2;
  if (bytes.length < nameOffset + NAME_LENGTH_BYTES) throw new PayloadError('initiator payload is truncated');
  const intent = bytes[0];
  if (intent !== Intent.SESSION && intent !== Intent.PAIR_REQUEST) throw new PayloadError(`unknown intent ${String(intent)}`);
  return {
    intent,
    requestId: bytes.slice(1, 1 + REQUEST_ID_BYTES),
    listenPort: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readUInt16BE(1 + REQUEST_ID_BYTES),
    displayName: decodeName(bytes, nameOffset),
  };
}
