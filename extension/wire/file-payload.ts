import { P2pError } from '../common/errors';
import { SCHEMA_FORBIDDEN_CLASS } from '../common/display-name';
import { checkClosedMembers, encodeCheckedJson, parseJsonObjectPayload } from './json-object-payload';
import { MESSAGE_ID_BYTES } from './message-leaf';

/**
 * The payloads of the three file message types (docs/protocol.md §9):
 *
 *   file_offer    UTF-8 JSON, closed:
 *                 {"v":1,"name":N,"size":n,"sha256":H,"chunk_size":c[,"media_type":M][,"description":D]}
 *   file_control  UTF-8 JSON, closed: {"v":1,"action":A[,"reason":R]}
 *   file_chunk    binary: transfer_id [16] | index u32 (big-endian) | data [1 .. MAX_CHUNK_SIZE]
 *
 * A transfer is named by the message id of its offer (the transfer id),
 * which the chunks carry and the controls name in their correlation id.
 * The offer travels in a signed batch, so its sha256 is signed by the
 * sender with it: no second signature.
 *
 * These are the format's limits, the same for every node: a node that
 * changed one would refuse what its peers send. How large a file a node
 * accepts is its file service's setting, not the format's.
 */

export const FILE_PAYLOAD_VERSION = 1;

/** An offer's bytes at most. */
export const MAX_OFFER_BYTES = 4096;
/** A control's bytes at most. */
export const MAX_CONTROL_BYTES = 512;
/** A file name's UTF-8 bytes at most, as most file systems allow. */
export const MAX_FILE_NAME_BYTES = 255;
/**
 * A description's UTF-8 bytes at most: bytes, not characters, so that the
 * largest name, media type and description the rules allow, each at its
 * worst JSON escaping, still fit MAX_OFFER_BYTES.
 */
export const MAX_DESCRIPTION_BYTES = 1500;
/** Characters of each half of a media type (RFC 6838 §4.2). */
export const MAX_MEDIA_TYPE_PART_CHARS = 127;
/** The largest file size a number counts exactly; MAX_CHUNKS bounds it further, to MAX_CHUNKS × chunk_size. */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;
export const MIN_CHUNK_SIZE = 65_536;
/** A chunk and its header fit one leaf under the 1 MiB payload limit, with room for the leaf's own fields. */
export const MAX_CHUNK_SIZE = 1_048_000;
export const DEFAULT_CHUNK_SIZE = 262_144;
/** transfer id and index. */
export const CHUNK_HEADER_BYTES = MESSAGE_ID_BYTES + 4;
/** A chunk's index is a u32: a file has at most this many chunks. */
export const MAX_CHUNKS = 2 ** 32;

export interface FileOffer {
  /** Shown to the user, never used as a path as given. */
  name: string;
  /** Bytes, at least 1. */
  size: number;
  /** SHA-256 of the whole file, 64 lower-case hex characters. */
  sha256: string;
  /** Bytes of every chunk but the last. */
  chunkSize: number;
  mediaType: string | null;
  description: string | null;
}

export const FILE_CONTROL_ACTIONS = ['accept', 'decline', 'cancel', 'received', 'failed'] as const;
export type FileControlAction = (typeof FILE_CONTROL_ACTIONS)[number];

/**
 * The reasons this node sends with each action; accept and received carry
 * none. A receiver takes any reason of the code form, so that a later
 * version can add one without its controls being refused.
 */
export const FILE_CONTROL_REASONS: Record<FileControlAction, readonly string[]> = {
  accept: [],
  decline: ['user', 'too_large', 'limit', 'expired'],
  cancel: ['user', 'source_changed', 'expired', 'ended'],
  received: [],
  failed: ['hash_mismatch', 'disk_full', 'storage_error'],
};

export interface FileControl {
  action: FileControlAction;
  reason: string | null;
}

export interface FileChunk {
  /** The message id of the offer. */
  transferId: Uint8Array;
  /** From 0. */
  index: number;
  /** A view into the payload when decoded. */
  data: Uint8Array;
}

/** Why bytes are not a file payload; a receiver refuses the message as `bad_payload`. */
export type FilePayloadRefusal = 'too_large' | 'malformed' | 'bad_version' | 'bad_schema' | 'too_short';

export class FilePayloadError extends Error {
  override name = 'FilePayloadError';

  constructor(
    readonly reason: FilePayloadRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** How many chunks a file of `size` bytes takes. */
export function chunkCountOf(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const FORBIDDEN_CHARACTER = new RegExp(`[${SCHEMA_FORBIDDEN_CLASS}]`, 'u');
/** Names a file system or a shell reads as a path, not a name. */
const PATH_CHARACTER = /[/\\:]/;
/** RFC 6838 §4.2 restricted-name; length checked apart, for a message that says so. */
const MEDIA_TYPE = /^([A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*)\/([A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*)$/;
const REASON = /^[a-z][a-z0-9_]{0,63}$/;

export function encodeFileOffer(offer: FileOffer): Uint8Array {
  const value: Record<string, unknown> = {
    v: FILE_PAYLOAD_VERSION,
    name: offer.name,
    size: offer.size,
    sha256: offer.sha256,
    chunk_size: offer.chunkSize,
  };
  if (offer.mediaType !== null) value['media_type'] = offer.mediaType;
  if (offer.description !== null) value['description'] = offer.description;
  return encodeCheckedJson(value, decodeFileOffer, isFilePayloadError);
}

export function decodeFileOffer(bytes: Uint8Array): FileOffer {
  const value = parseObject(bytes, MAX_OFFER_BYTES, 'an offer');
  checkVersion(value);
  checkClosedMembers(value, ['v', 'name', 'size', 'sha256', 'chunk_size', 'media_type', 'description'], ['v', 'name', 'size', 'sha256', 'chunk_size'], 'an offer', schema);
  const { name, size, sha256, chunk_size: chunkSize, media_type: mediaType, description } = value;
  checkName(name);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) throw schema(`size is not a whole number of bytes from 1 to ${MAX_FILE_SIZE}`);
  if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) throw schema('sha256 is not 64 lower-case hex characters');
  if (typeof chunkSize !== 'number' || !Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw schema(`chunk_size is not a whole number of bytes from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`);
  }
  if (chunkCountOf(size, chunkSize) > MAX_CHUNKS) throw schema(`a size of ${size} bytes takes more than ${MAX_CHUNKS} chunks of ${chunkSize} bytes`);
  if (mediaType !== undefined) checkMediaType(mediaType);
  if (description !== undefined) checkDescription(description);
  return {
    name: name as string,
    size,
    sha256,
    chunkSize,
    mediaType: (mediaType as string | undefined) ?? null,
    description: (description as string | undefined) ?? null,
  };
}

export function encodeFileControl(control: FileControl): Uint8Array {
  if (control.reason !== null && !(FILE_CONTROL_REASONS[control.action] ?? []).includes(control.reason)) {
    throw new P2pError('INVALID_INPUT', `${JSON.stringify(control.reason)} is no reason this node sends with ${JSON.stringify(control.action)}`);
  }
  const value: Record<string, unknown> = { v: FILE_PAYLOAD_VERSION, action: control.action };
  if (control.reason !== null) value['reason'] = control.reason;
  return encodeCheckedJson(value, decodeFileControl, isFilePayloadError);
}

export function decodeFileControl(bytes: Uint8Array): FileControl {
  const value = parseObject(bytes, MAX_CONTROL_BYTES, 'a control');
  checkVersion(value);
  checkClosedMembers(value, ['v', 'action', 'reason'], ['v', 'action'], 'a control', schema);
  const { action, reason } = value;
  if (typeof action !== 'string' || !(FILE_CONTROL_ACTIONS as readonly string[]).includes(action)) {
    throw schema(`action ${JSON.stringify(String(action).slice(0, 32))} is none of ${FILE_CONTROL_ACTIONS.join(', ')}`);
  }
  if (reason === undefined) return { action: action as FileControlAction, reason: null };
  if (FILE_CONTROL_REASONS[action as FileControlAction].length === 0) throw schema(`${action} carries no reason`);
  if (typeof reason !== 'string' || !REASON.test(reason)) throw schema('reason is not a code: 1 to 64 characters a-z, 0-9 and _, from a letter');
  return { action: action as FileControlAction, reason };
}

export function encodeFileChunk(chunk: FileChunk): Uint8Array {
  if (chunk.transferId.length !== MESSAGE_ID_BYTES) throw new P2pError('INVALID_INPUT', `a transfer id is ${MESSAGE_ID_BYTES} bytes, not ${chunk.transferId.length}`);
  if (!Number.isInteger(chunk.index) || chunk.index < 0 || chunk.index >= MAX_CHUNKS) throw new P2pError('INVALID_INPUT', `a chunk index is a whole number below ${MAX_CHUNKS}, not ${chunk.index}`);
  if (chunk.data.length < 1 || chunk.data.length > MAX_CHUNK_SIZE) {
    throw new P2pError('INVALID_INPUT', `a chunk holds 1 to ${MAX_CHUNK_SIZE} bytes, not ${chunk.data.length}`);
  }
  const out = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + chunk.data.length);
  out.set(chunk.transferId, 0);
  out.writeUInt32BE(chunk.index, MESSAGE_ID_BYTES);
  out.set(chunk.data, CHUNK_HEADER_BYTES);
  return out;
}

/** Only the header can be checked here: the length a chunk must have depends on its offer, which the file service holds. */
export function decodeFileChunk(bytes: Uint8Array): FileChunk {
  if (bytes.length <= CHUNK_HEADER_BYTES) {
    throw new FilePayloadError('too_short', `a chunk of ${bytes.length} bytes holds no data after its ${CHUNK_HEADER_BYTES}-byte header`);
  }
  const dataLength = bytes.length - CHUNK_HEADER_BYTES;
  if (dataLength > MAX_CHUNK_SIZE) throw new FilePayloadError('too_large', `a chunk of ${dataLength} bytes exceeds the ${MAX_CHUNK_SIZE} bytes a chunk holds at most`);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  // Uint8Array's slice, a copy even of a Buffer (whose own slice is a view): the id outlives the payload.
  return { transferId: Uint8Array.prototype.slice.call(bytes, 0, MESSAGE_ID_BYTES), index: view.readUInt32BE(MESSAGE_ID_BYTES), data: bytes.subarray(CHUNK_HEADER_BYTES) };
}


function isFilePayloadError(error: unknown): error is FilePayloadError {
  return error instanceof FilePayloadError;
}

function parseObject(bytes: Uint8Array, maxBytes: number, what: string): Record<string, unknown> {
  return parseJsonObjectPayload(bytes, maxBytes, what, (reason, message) => new FilePayloadError(reason, message));
}

function checkVersion(value: Record<string, unknown>): void {
  if (value['v'] !== FILE_PAYLOAD_VERSION) throw new FilePayloadError('bad_version', `payload version ${JSON.stringify(value['v'] ?? null)} is not ${FILE_PAYLOAD_VERSION}`);
}


/**
 * A name is shown to the user (in the offer's dialog, in lists) by the
 * display-name character rule, so that it cannot disguise itself or forge
 * text around it; and it holds no path separator nor is `.` or `..`, so
 * that nothing downstream takes it for a path.
 */
function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw schema('name is not a string');
  const bytes = Buffer.byteLength(name, 'utf8');
  if (name.length === 0 || bytes > MAX_FILE_NAME_BYTES) throw schema(`name is not 1 to ${MAX_FILE_NAME_BYTES} UTF-8 bytes long (${bytes})`);
  checkShownText(name, 'name');
  if (PATH_CHARACTER.test(name)) throw schema('name holds /, \\ or :, which would make it a path');
  if (name === '.' || name === '..') throw schema(`name is ${JSON.stringify(name)}, which names a directory`);
  if (name.trim() === '') throw schema('name is only whitespace');
}

function checkMediaType(mediaType: unknown): void {
  const parts = typeof mediaType === 'string' ? MEDIA_TYPE.exec(mediaType) : null;
  if (parts === null) throw schema('media_type is not type/subtype of RFC 6838 restricted names (letters, digits and !#$&^_.+-, from a letter or digit)');
  if ((parts[1] as string).length > MAX_MEDIA_TYPE_PART_CHARS || (parts[2] as string).length > MAX_MEDIA_TYPE_PART_CHARS) {
    throw schema(`media_type has a type or subtype longer than ${MAX_MEDIA_TYPE_PART_CHARS} characters`);
  }
}

function checkDescription(description: unknown): void {
  if (typeof description !== 'string') throw schema('description is not a string');
  const bytes = Buffer.byteLength(description, 'utf8');
  if (bytes > MAX_DESCRIPTION_BYTES) throw schema(`description is ${bytes} UTF-8 bytes long, more than ${MAX_DESCRIPTION_BYTES}`);
  checkShownText(description, 'description');
}

function checkShownText(text: string, what: string): void {
  if (!text.isWellFormed()) throw schema(`${what} holds an unpaired UTF-16 surrogate`);
  const forbidden = FORBIDDEN_CHARACTER.exec(text);
  if (forbidden !== null) {
    const codePoint = (forbidden[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
    throw schema(`${what} holds U+${codePoint}, a control, line-separator, text-direction, zero-width or invisible character`);
  }
}

function schema(message: string): FilePayloadError {
  return new FilePayloadError('bad_schema', message);
}
