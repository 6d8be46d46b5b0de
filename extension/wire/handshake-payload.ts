import { decodeKeyChain, encodeKeyChain, KeyChainFormatError, type RotationStatement } from './key-rotation';

/**
 * What each side says about itself inside the encrypted part of the
 * handshake. Fixed layouts, decoded strictly: every byte is accounted for.
 *
 * Responder payload: name_len u16 BE | name (UTF-8) [| key chain]
 * Initiator payload: intent u8 | request_id [16] | listen_port u16 BE | name_len u16 BE | name (UTF-8) [| key chain]
 *
 * A display name is at most 64 code points, so at most 256 bytes of UTF-8.
 * The key chain (key-rotation.ts) comes only from a node that has rotated
 * its key; a node that never did sends no byte of it, so its payloads are
 * those of a build that knows nothing of rotation.
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
  /** The statements certifying the sender's current key; absent until it rotates. */
  keyChain?: RotationStatement[];
}

export interface InitiatorPayload {
  intent: Intent;
  /** Zero bytes for a session. */
  requestId: Uint8Array;
  /** Where the initiator accepts connections (with the address it connected from); 0 when it does not listen. */
  listenPort: number;
  displayName: string;
  /** As in ResponderPayload. */
  keyChain?: RotationStatement[];
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

/** The name at `offset` and the optional chain after it, which must end the payload. */
function decodeNameAndChain(bytes: Uint8Array, offset: number): { displayName: string; keyChain?: RotationStatement[] } {
  if (bytes.length < offset + NAME_LENGTH_BYTES) throw new PayloadError('display name length is missing');
  const length = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readUInt16BE(offset);
  const end = offset + NAME_LENGTH_BYTES + length;
  if (length > MAX_NAME_BYTES || end > bytes.length) throw new PayloadError('display name length does not match the payload');
  let displayName: string;
  try {
    displayName = utf8.decode(bytes.subarray(offset + NAME_LENGTH_BYTES, end));
  } catch {
    throw new PayloadError('display name is not valid UTF-8');
  }
  if (end === bytes.length) return { displayName };
  try {
    return { displayName, keyChain: decodeKeyChain(bytes.subarray(end)) };
  } catch (error) {
    if (error instanceof KeyChainFormatError) throw new PayloadError(`what follows the display name does not match a key chain: ${error.message}`);
    throw error;
  }
}

function encodeChain(keyChain: RotationStatement[] | undefined): Uint8Array {
  if (keyChain === undefined) return new Uint8Array(0);
  try {
    return encodeKeyChain(keyChain);
  } catch (error) {
    if (error instanceof KeyChainFormatError) throw new PayloadError(`key chain: ${error.message}`);
    throw error;
  }
}

export function encodeResponderPayload(payload: ResponderPayload): Uint8Array {
  return Buffer.concat([encodeName(payload.displayName), encodeChain(payload.keyChain)]);
}

export function decodeResponderPayload(bytes: Uint8Array): ResponderPayload {
  return decodeNameAndChain(bytes, 0);
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
  return Buffer.concat([head, encodeName(payload.displayName), encodeChain(payload.keyChain)]);
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
    ...decodeNameAndChain(bytes, nameOffset),
  };
}
