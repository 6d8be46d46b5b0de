import { P2pError } from '../common/errors';
import { firstJsonProblem } from '../common/json-value';
import { MAX_JSON_DEPTH } from '../common/json-value';
import { checkClosedMembers } from './json-object-payload';

/**
 * The payloads of the two message types of the A2A binding (docs/a2a.md
 * "Binding", docs/protocol.md §16): UTF-8 JSON objects of a closed shape.
 *
 *   a2a_request   {"v":1,"method":M,"params":{…},"service":{…},"expires_at":ms}
 *   a2a_response  {"v":1,"seq":n,"event":{…}}
 *                 {"v":1,"seq":n,"result":{…},"end":true}
 *                 {"v":1,"seq":n,"error":{"code":c,"message":"…"[,"data":…]},"end":true}
 *                 {"v":1,"seq":n,"end":true}
 *
 * Each meaning has one form: an event never ends a stream (a bare end
 * marker or a result or error does), a result or error always does. So a
 * receiver that keeps one body per (request, seq) can tell a retransmission
 * from a conflicting answer by the body alone.
 *
 * The A2A ids the exchange store indexes (the client's `messageId`, a
 * task id) are checked here, so that what reaches the store is usable as a
 * key: a string of at most maxIdChars well-formed characters.
 */

/** The JSON-RPC methods that travel; the others are answered by the calling side itself (docs/a2a.md). */
export const A2A_CARRIED_METHODS = ['SendMessage', 'SendStreamingMessage', 'GetTask', 'ListTasks', 'CancelTask', 'SubscribeToTask'] as const;
export type A2aMethod = (typeof A2A_CARRIED_METHODS)[number];

/** The methods whose answer is a stream of events. */
export const A2A_STREAMING_METHODS: readonly A2aMethod[] = ['SendStreamingMessage', 'SubscribeToTask'];

export const BINDING_PAYLOAD_VERSION = 1;

/** The one service parameter that travels (A2A `A2A-Extensions`): a comma-separated list of extension URIs. */
export const SERVICE_EXTENSIONS = 'a2a-extensions';

/**
 * Limits of the payload format. They are part of the binding: a node that
 * lowered them would refuse what its peers send, so only maxAnswers is a
 * setting (config.ts): it bounds what one request may cost the caller.
 */
export interface BindingPayloadLimits {
  /** Answers to one request: seq runs from 0 to maxAnswers - 1. */
  maxAnswers: number;
  /** Characters of an A2A id (messageId, contextId, task id). */
  maxIdChars: number;
  /** Characters of the `a2a-extensions` service parameter. */
  maxServiceChars: number;
  /** Characters of an error's message. */
  maxErrorMessageChars: number;
}

export const DEFAULT_BINDING_PAYLOAD_LIMITS: BindingPayloadLimits = {
  maxAnswers: 10_000,
  maxIdChars: 256,
  maxServiceChars: 2048,
  maxErrorMessageChars: 4096,
};

export interface A2aRequestPayload {
  method: A2aMethod;
  params: Record<string, unknown>;
  /** Service parameters; only `a2a-extensions` exists. */
  service: { [SERVICE_EXTENSIONS]?: string };
  /** Milliseconds since 1970: after this the request is answered -32061 instead of served. */
  expiresAt: number;
}

export interface A2aErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export type A2aAnswer =
  /** One item of a stream: a StreamResponse (`task`, `message`, `statusUpdate` or `artifactUpdate`). */
  | { kind: 'event'; event: Record<string, unknown> }
  /** The JSON-RPC result; ends the answers. */
  | { kind: 'result'; result: Record<string, unknown> }
  /** The JSON-RPC error; ends the answers. */
  | { kind: 'error'; error: A2aErrorObject }
  /** The end of a stream, after its last event. */
  | { kind: 'end' };

export type A2aResponsePayload = A2aAnswer & { seq: number };

/** Whether an answer is the last one of its request. */
export function endsAnswers(answer: A2aAnswer): boolean {
  return answer.kind !== 'event';
}

/** Why bytes are not a binding payload; a receiver counts the refusal as `a2a_<reason>`. */
export type BindingPayloadRefusal = 'malformed' | 'bad_version' | 'unknown_method' | 'bad_schema' | 'seq_out_of_range';

export class BindingPayloadError extends Error {
  override name = 'BindingPayloadError';

  constructor(
    readonly reason: BindingPayloadRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** The four members of a StreamResponse, exactly one of which an event holds. */
const EVENT_KINDS = ['task', 'message', 'statusUpdate', 'artifactUpdate'];
/** A JSON-RPC error code is an integer; A2A's and p2p-comm's fit in this range. */
const MAX_ERROR_CODE = 2 ** 31;

export function encodeRequestPayload(request: A2aRequestPayload, limits: BindingPayloadLimits = DEFAULT_BINDING_PAYLOAD_LIMITS): Uint8Array {
  const value = { v: BINDING_PAYLOAD_VERSION, method: request.method, params: request.params, service: request.service, expires_at: request.expiresAt };
  return encodeChecked(value, (checked) => readRequest(checked, limits));
}

export function encodeResponsePayload(response: A2aResponsePayload, limits: BindingPayloadLimits = DEFAULT_BINDING_PAYLOAD_LIMITS): Uint8Array {
  const body: Record<string, unknown> = { v: BINDING_PAYLOAD_VERSION, seq: response.seq };
  if (response.kind === 'event') body['event'] = response.event;
  if (response.kind === 'result') body['result'] = response.result;
  if (response.kind === 'error') body['error'] = response.error;
  if (endsAnswers(response)) body['end'] = true;
  return encodeChecked(body, (checked) => readResponse(checked, limits));
}

export function decodeRequestPayload(bytes: Uint8Array, limits: BindingPayloadLimits = DEFAULT_BINDING_PAYLOAD_LIMITS): A2aRequestPayload {
  return readRequest(parseObject(bytes), limits);
}

export function decodeResponsePayload(bytes: Uint8Array, limits: BindingPayloadLimits = DEFAULT_BINDING_PAYLOAD_LIMITS): A2aResponsePayload {
  return readResponse(parseObject(bytes), limits);
}

/**
 * The client's `messageId` of a request that sends a message, or null for
 * the other methods: the key under which both ends find the exchanges of
 * one A2A message (never the envelope id, which the sending node picks).
 */
export function clientMessageIdOf(request: A2aRequestPayload): string | null {
  if (request.method !== 'SendMessage' && request.method !== 'SendStreamingMessage') return null;
  return (request.params['message'] as { messageId: string }).messageId;
}

/** The A2A `contextId` a request names (its message's), or null: the conversation with that peer. */
export function contextIdOf(request: A2aRequestPayload): string | null {
  const message = request.params['message'];
  if (!isObject(message)) return null;
  const contextId = message['contextId'];
  return typeof contextId === 'string' ? contextId : null;
}

/** The encoder runs the decoder's checks, so that this node never sends what a peer refuses. */
function encodeChecked(value: Record<string, unknown>, check: (value: Record<string, unknown>) => unknown): Uint8Array {
  const text = JSON.stringify(value);
  try {
    check(JSON.parse(text) as Record<string, unknown>);
  } catch (error) {
    if (error instanceof BindingPayloadError) throw new P2pError('INVALID_INPUT', error.message);
    throw error;
  }
  return Buffer.from(text, 'utf8');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseObject(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    throw new BindingPayloadError('malformed', 'the payload is not UTF-8 JSON');
  }
  if (!isObject(value)) throw new BindingPayloadError('malformed', 'the payload is not a JSON object');
  const problem = firstJsonProblem(value, MAX_JSON_DEPTH);
  if (problem !== null) {
    throw new BindingPayloadError('malformed', `the payload breaks the json content rules at ${problem.path === '' ? 'its root' : problem.path} (${problem.rule})`);
  }
  return value;
}

function readRequest(value: Record<string, unknown>, limits: BindingPayloadLimits): A2aRequestPayload {
  checkVersion(value);
  checkClosedMembers(value, ['v', 'method', 'params', 'service', 'expires_at'], ['v', 'method', 'params', 'service', 'expires_at'], 'a request', schema);
  const { method, params, service, expires_at: expiresAt } = value;
  if (typeof method !== 'string' || !(A2A_CARRIED_METHODS as readonly string[]).includes(method)) {
    throw new BindingPayloadError('unknown_method', `method ${JSON.stringify(String(method).slice(0, 64))} is not one the binding carries (${A2A_CARRIED_METHODS.join(', ')})`);
  }
  if (!isObject(params)) throw schema('params is not an object');
  if (!isObject(service)) throw schema('service is not an object');
  checkClosedMembers(service, [SERVICE_EXTENSIONS], [], 'service', schema);
  const extensions = service[SERVICE_EXTENSIONS];
  if (extensions !== undefined && !isText(extensions, limits.maxServiceChars)) throw schema(`service.${SERVICE_EXTENSIONS} is not a string of at most ${limits.maxServiceChars} characters`);
  if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt < 0) throw schema('expires_at is not a whole number of milliseconds since 1970');
  const request: A2aRequestPayload = { method: method as A2aMethod, params, service: service as A2aRequestPayload['service'], expiresAt };
  checkIds(request, limits);
  return request;
}

/** The ids the exchange store keys on must be present and bounded; the rest of params is the serving agent's to judge. */
function checkIds(request: A2aRequestPayload, limits: BindingPayloadLimits): void {
  const { params } = request;
  if (request.method === 'SendMessage' || request.method === 'SendStreamingMessage') {
    const message = params['message'];
    if (!isObject(message)) throw schema(`params.message of ${request.method} is not an object`);
    if (!isId(message['messageId'], limits)) throw schema(`params.message.messageId is not a non-empty string of at most ${limits.maxIdChars} characters`);
    const contextId = message['contextId'];
    if (contextId !== undefined && !isId(contextId, limits)) throw schema(`params.message.contextId is not a non-empty string of at most ${limits.maxIdChars} characters`);
  } else if (request.method !== 'ListTasks' && !isId(params['id'], limits)) {
    throw schema(`params.id of ${request.method} is not a non-empty string of at most ${limits.maxIdChars} characters`);
  }
}

function readResponse(value: Record<string, unknown>, limits: BindingPayloadLimits): A2aResponsePayload {
  checkVersion(value);
  checkClosedMembers(value, ['v', 'seq', 'event', 'result', 'error', 'end'], ['v', 'seq'], 'a response', schema);
  const { seq, end } = value;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw schema('seq is not a whole number');
  if (seq >= limits.maxAnswers) throw new BindingPayloadError('seq_out_of_range', `seq ${seq} is past the ${limits.maxAnswers} answers this node takes for one request`);
  if (end !== undefined && end !== true) throw schema('end is present but not true');
  const bodies = ['event', 'result', 'error'].filter((key) => key in value);
  if (bodies.length > 1) throw schema(`a response holds one of event, result and error, not ${bodies.join(' and ')}`);
  const body = bodies[0];
  if (body === 'event') {
    if (end === true) throw schema('an event does not end the answers: a bare end marker follows the last one');
    return { seq, kind: 'event', event: readEvent(value['event']) };
  }
  if (end !== true) throw schema(body === undefined ? 'a response without event, result or error is an end marker and holds end: true' : `a ${body} ends the answers and holds end: true`);
  if (body === 'result') {
    if (!isObject(value['result'])) throw schema('result is not an object');
    return { seq, kind: 'result', result: value['result'] };
  }
  if (body === 'error') return { seq, kind: 'error', error: readError(value['error'], limits) };
  return { seq, kind: 'end' };
}

function readEvent(event: unknown): Record<string, unknown> {
  if (!isObject(event)) throw schema('event is not an object');
  const keys = Object.keys(event);
  if (keys.length !== 1 || !EVENT_KINDS.includes(keys[0] as string) || !isObject(event[keys[0] as string])) {
    throw schema(`an event holds exactly one of ${EVENT_KINDS.join(', ')}, an object`);
  }
  return event;
}

function readError(error: unknown, limits: BindingPayloadLimits): A2aErrorObject {
  if (!isObject(error)) throw schema('error is not an object');
  checkClosedMembers(error, ['code', 'message', 'data'], ['code', 'message'], 'error', schema);
  const { code, message } = error;
  if (typeof code !== 'number' || !Number.isInteger(code) || Math.abs(code) >= MAX_ERROR_CODE) throw schema('error.code is not a 32-bit integer');
  if (!isText(message, limits.maxErrorMessageChars)) throw schema(`error.message is not a string of at most ${limits.maxErrorMessageChars} characters`);
  return 'data' in error ? { code, message, data: error['data'] } : { code, message };
}

function checkVersion(value: Record<string, unknown>): void {
  if (value['v'] !== BINDING_PAYLOAD_VERSION) throw new BindingPayloadError('bad_version', `payload version ${JSON.stringify(value['v'] ?? null)} is not ${BINDING_PAYLOAD_VERSION}`);
}


function schema(message: string): BindingPayloadError {
  return new BindingPayloadError('bad_schema', message);
}

function isId(value: unknown, limits: BindingPayloadLimits): value is string {
  return typeof value === 'string' && value.length > 0 && isText(value, limits.maxIdChars);
}

/** Lengths in UTF-16 code units, as JavaScript and the JSON-RPC clients count them. */
function isText(value: unknown, maxChars: number): value is string {
  return typeof value === 'string' && value.length <= maxChars;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
