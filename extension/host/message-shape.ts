import type { Message } from 'vscode-jsonrpc';
import type { ErrorName } from '../common/errors';
import { REJECTED_LINE_METHOD } from './rejected-line';

/**
 * What a parsed line turned out to be. `vscode-jsonrpc` silently drops
 * anything that is neither a request, a notification nor a response; a host
 * waiting for an answer would then wait forever. So the shape is checked
 * here, strictly, before the connection sees the message.
 *
 * A refused notification gets no response (JSON-RPC never answers one, and
 * an unasked-for line would shift every later Nexus response); anything else
 * refused is answered, because its sender may be waiting.
 */
export type Classified =
  | { kind: 'message'; message: Message }
  | { kind: 'reject'; id: number | string | undefined; errorName: ErrorName; reason: string; answer: boolean };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isValidId(id: unknown): id is number | string {
  return (typeof id === 'number' && Number.isSafeInteger(id)) || typeof id === 'string';
}

export function classifyMessage(value: unknown): Classified {
  if (Array.isArray(value)) {
    return reject(undefined, 'INVALID_REQUEST', 'batch requests (JSON arrays) are not supported; send one request per line', true);
  }
  if (!isPlainObject(value)) {
    return reject(undefined, 'INVALID_REQUEST', `a JSON-RPC message must be a JSON object, got ${describe(value)}`, true);
  }
  const hasId = 'id' in value;
  const isNotification = !hasId && typeof value['method'] === 'string';
  const id = isValidId(value['id']) ? value['id'] : undefined;
  if (hasId && id === undefined) {
    return reject(undefined, 'INVALID_REQUEST', `"id" must be an integer or a string, got ${describe(value['id'])}`, true);
  }
  if (value['jsonrpc'] !== '2.0') {
    return reject(id, 'INVALID_REQUEST', `"jsonrpc" must be "2.0", got ${describe(value['jsonrpc'])}`, !isNotification);
  }
  if ('method' in value) {
    const method = value['method'];
    if (typeof method !== 'string' || method.length === 0) {
      return reject(id, 'INVALID_REQUEST', `"method" must be a non-empty string, got ${describe(method)}`, true);
    }
    if (method === REJECTED_LINE_METHOD) {
      return reject(id, 'METHOD_NOT_FOUND', `unknown method "${method}"`, !isNotification);
    }
    if ('params' in value && !isPlainObject(value['params']) && !Array.isArray(value['params'])) {
      return reject(id, 'INVALID_REQUEST', `"params" must be an object or an array, got ${describe(value['params'])}`, !isNotification);
    }
    return { kind: 'message', message: value as unknown as Message };
  }
  if (id !== undefined) {
    // A reply to one of our requests; the connection matches it by id and
    // fails the pending request itself if it has neither result nor error.
    return { kind: 'message', message: value as unknown as Message };
  }
  return reject(undefined, 'INVALID_REQUEST', 'message has neither "method" nor "id"', true);
}

function reject(id: number | string | undefined, errorName: ErrorName, reason: string, answer: boolean): Classified {
  return { kind: 'reject', id, errorName, reason, answer };
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return `an ${typeof value}`;
}
