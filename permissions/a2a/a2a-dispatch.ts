import { A2A_PROTOCOL_VERSION } from '../../extension/common/a2a-binding';
import { isRecord } from './json-values';

/**
 * Which way one JSON-RPC request to a peer's local agent goes, decided
 * from the request alone: carried to the peer (the methods the binding
 * carries), or answered here with the JSON-RPC error A2A v1.0 names for
 * what this host does not offer.
 */

export type JsonRpcId = string | number | null;

export interface JsonRpcError {
  code: number;
  message: string;
  data?: unknown;
}

/** Methods whose answer is one result; the others stream events. */
export const BLOCKING_METHODS = ['SendMessage', 'GetTask', 'ListTasks', 'CancelTask'] as const;
export const STREAMING_METHODS = ['SendStreamingMessage', 'SubscribeToTask'] as const;
export type CarriedMethod = (typeof BLOCKING_METHODS)[number] | (typeof STREAMING_METHODS)[number];

/** Push notifications would need the serving node to reach this host's HTTP: not carried. */
const PUSH_CONFIG_METHODS = new Set([
  'CreateTaskPushNotificationConfig',
  'GetTaskPushNotificationConfig',
  'ListTaskPushNotificationConfigs',
  'DeleteTaskPushNotificationConfig',
]);

/** A2A v1.0 §5.4 codes and JSON-RPC's own. */
export const RPC_ERRORS = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL: -32603,
  PUSH_NOTIFICATION_NOT_SUPPORTED: -32003,
  EXTENDED_CARD_NOT_CONFIGURED: -32007,
  VERSION_NOT_SUPPORTED: -32009,
} as const;

export type RoutedRequest =
  | { kind: 'carried'; id: JsonRpcId; method: CarriedMethod; params: Record<string, unknown>; streaming: boolean }
  | { kind: 'answered'; id: JsonRpcId; error: JsonRpcError };

/** `versionHeader`: the request's A2A-Version header; a client that sends none means the version this host speaks. */
export function routeRequest(body: unknown, versionHeader: string | undefined): RoutedRequest {
  if (!isRecord(body) || body['jsonrpc'] !== '2.0' || typeof body['method'] !== 'string' || !isId(body['id'])) {
    const id = isRecord(body) && isId(body['id']) ? body['id'] : null;
    return answered(id, RPC_ERRORS.INVALID_REQUEST, 'Invalid request: a JSON-RPC 2.0 request object with jsonrpc "2.0", a method and an id (batches are not taken)');
  }
  const id = body['id'] as JsonRpcId;
  const method = body['method'];
  if (versionHeader !== undefined && versionHeader.trim() !== A2A_PROTOCOL_VERSION) {
    return answered(id, RPC_ERRORS.VERSION_NOT_SUPPORTED, `A2A version ${versionHeader} is not supported: this agent speaks A2A ${A2A_PROTOCOL_VERSION}`);
  }
  if (PUSH_CONFIG_METHODS.has(method)) {
    return answered(id, RPC_ERRORS.PUSH_NOTIFICATION_NOT_SUPPORTED, 'Push notifications are not supported: stream the task (SendStreamingMessage, SubscribeToTask) or poll it (GetTask)');
  }
  if (method === 'GetExtendedAgentCard') return answered(id, RPC_ERRORS.EXTENDED_CARD_NOT_CONFIGURED, 'No extended agent card is offered: the public card is all there is');
  const streaming = (STREAMING_METHODS as readonly string[]).includes(method);
  if (!streaming && !(BLOCKING_METHODS as readonly string[]).includes(method)) return answered(id, RPC_ERRORS.METHOD_NOT_FOUND, `Method not found: ${method}`);
  const params = body['params'];
  if (!isRecord(params)) return answered(id, RPC_ERRORS.INVALID_PARAMS, `Invalid params: ${method} takes its params as a JSON object`);
  return { kind: 'carried', id, method: method as CarriedMethod, params, streaming };
}

/** The one way this host words a JSON-RPC error of its own. */
export function rpcError(code: number, message: string): JsonRpcError {
  return { code, message };
}

/** JSON-RPC's internal error: something on this side failed, not the request. */
export function internalError(message: string): JsonRpcError {
  return rpcError(RPC_ERRORS.INTERNAL, message);
}

function answered(id: JsonRpcId, code: number, message: string): RoutedRequest {
  return { kind: 'answered', id, error: rpcError(code, message) };
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) || value === null;
}
