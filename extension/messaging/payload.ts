import { isUtf8 } from 'node:buffer';
import { P2pError } from '../common/errors';
import { firstJsonProblem, jsonProblemText, MAX_JSON_DEPTH } from '../common/json-value';
import {
  type A2aRequestPayload,
  type A2aResponsePayload,
  BindingPayloadError,
  decodeRequestPayload,
  decodeResponsePayload,
  encodeRequestPayload,
  encodeResponsePayload,
} from '../wire/a2a-payload';
import {
  decodeFileChunk,
  decodeFileControl,
  decodeFileOffer,
  encodeFileChunk,
  encodeFileControl,
  encodeFileOffer,
  type FileChunk,
  type FileControl,
  type FileOffer,
  FilePayloadError,
} from '../wire/file-payload';
import { decodeGroupControl, decodeGroupMessage, encodeGroupControl, encodeGroupMessage, type GroupControl, type GroupMessage } from '../wire/group-payload';
import { GroupFormatError } from '../wire/group-statement';
import type { MessageType } from '../wire/message-leaf';

/**
 * Message content as it travels: text as its UTF-8 bytes, json as the UTF-8
 * of its JSON text. The receiver hands back exactly what was sent: the same
 * string, or the same JSON value. The two A2A types carry their payloads
 * (wire/a2a-payload.ts), the three file types theirs (wire/file-payload.ts):
 * the content is the decoded payload, and so for the two group types
 * (wire/group-payload.ts).
 *
 * json content nests at most MAX_JSON_DEPTH arrays and objects and holds no
 * unpaired surrogate, on both sides: a receiver must be able to hand it to
 * its plugin, and Nexus's JSON parser refuses an escaped lone surrogate.
 */
export { MAX_JSON_DEPTH };

export function encodeContent(type: MessageType, content: unknown, maxBytes: number): Uint8Array {
  if (type === 'a2a_request' || type === 'a2a_response') return checkSize(encodeA2a(type, content), maxBytes);
  if (isFileType(type)) return checkSize(encodeFile(type, content), maxBytes);
  if (isGroupType(type)) return checkSize(encodeGroup(type, content), maxBytes);
  let text: string;
  if (type === 'text') {
    if (typeof content !== 'string') throw new P2pError('INVALID_INPUT', 'content of a text message must be a string');
    text = content;
  } else {
    refuseUnpassableJson(content);
    text = JSON.stringify(content);
  }
  // A lone surrogate has no UTF-8 form: it would arrive as U+FFFD, not as sent.
  if (!text.isWellFormed()) throw new P2pError('INVALID_INPUT', 'content contains an unpaired UTF-16 surrogate, which cannot be sent as UTF-8');
  return checkSize(Buffer.from(text, 'utf8'), maxBytes);
}

function checkSize(bytes: Uint8Array, maxBytes: number): Uint8Array {
  if (bytes.length > maxBytes) {
    throw new P2pError('INVALID_INPUT', `content is ${bytes.length} bytes once encoded; the limit is ${maxBytes} bytes (send it in parts)`, {
      rule: 'max_bytes',
      bytes: bytes.length,
      limit: maxBytes,
    });
  }
  return bytes;
}

/** The A2A payloads are built by the A2A service, never by a plugin: their content is already the checked payload. */
function encodeA2a(type: 'a2a_request' | 'a2a_response', content: unknown): Uint8Array {
  return type === 'a2a_request' ? encodeRequestPayload(content as A2aRequestPayload) : encodeResponsePayload(content as A2aResponsePayload);
}

type FileType = 'file_offer' | 'file_control' | 'file_chunk';

function isFileType(type: MessageType): type is FileType {
  return type === 'file_offer' || type === 'file_control' || type === 'file_chunk';
}

/** Like the A2A payloads, the file payloads are built by the file service, never by a plugin. */
function encodeFile(type: FileType, content: unknown): Uint8Array {
  if (type === 'file_offer') return encodeFileOffer(content as FileOffer);
  return type === 'file_control' ? encodeFileControl(content as FileControl) : encodeFileChunk(content as FileChunk);
}

type GroupType = 'group_control' | 'group_message';

function isGroupType(type: MessageType): type is GroupType {
  return type === 'group_control' || type === 'group_message';
}

/** The group payloads are built by the group service, never by a plugin. */
function encodeGroup(type: GroupType, content: unknown): Uint8Array {
  return type === 'group_control' ? encodeGroupControl(content as GroupControl) : encodeGroupMessage(content as GroupMessage);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The content a plugin receives; null when the bytes are not a valid payload of that type. */
export function decodeContent(type: MessageType, payload: Uint8Array): { value: unknown } | null {
  if (type === 'a2a_request' || type === 'a2a_response') return decodeA2a(type, payload);
  if (isFileType(type)) return decodeFile(type, payload);
  if (isGroupType(type)) return decodeGroup(type, payload);
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return null;
  }
  if (type === 'text') return { value: text };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return firstJsonProblem(value, MAX_JSON_DEPTH) === null ? { value } : null;
}

/**
 * Whether decodeContent would take the bytes, for the receiver's check of
 * each message: text is only checked to be UTF-8, without building the
 * string nobody reads then.
 */
export function isValidContent(type: MessageType, payload: Uint8Array): boolean {
  return type === 'text' ? isUtf8(payload) : decodeContent(type, payload) !== null;
}

function decodeA2a(type: 'a2a_request' | 'a2a_response', payload: Uint8Array): { value: unknown } | null {
  return decodedOrNull(() => (type === 'a2a_request' ? decodeRequestPayload(payload) : decodeResponsePayload(payload)), BindingPayloadError);
}

function decodeFile(type: FileType, payload: Uint8Array): { value: unknown } | null {
  return decodedOrNull(() => (type === 'file_offer' ? decodeFileOffer(payload) : type === 'file_control' ? decodeFileControl(payload) : decodeFileChunk(payload)), FilePayloadError);
}

function decodeGroup(type: GroupType, payload: Uint8Array): { value: unknown } | null {
  return decodedOrNull(() => (type === 'group_control' ? decodeGroupControl(payload) : decodeGroupMessage(payload)), GroupFormatError);
}

/** The decoded value, or null when the format's decoder refused the bytes (any other error is a bug, and thrown). */
function decodedOrNull(decode: () => unknown, Refusal: new (...args: never[]) => Error): { value: unknown } | null {
  try {
    return { value: decode() };
  } catch (error) {
    if (error instanceof Refusal) return null;
    throw error;
  }
}

function refuseUnpassableJson(content: unknown): void {
  const problem = firstJsonProblem(content, MAX_JSON_DEPTH);
  if (problem === null) return;
  const where = problem.path === '' ? 'content' : `content at ${problem.path}`;
  throw new P2pError('INVALID_INPUT', `${where} ${jsonProblemText(problem.rule, MAX_JSON_DEPTH)}`);
}
