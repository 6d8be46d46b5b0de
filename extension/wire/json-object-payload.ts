import { P2pError } from '../common/errors';

/**
 * What the formats whose payload is one UTF-8 JSON object (A2A requests and
 * answers, file offers and controls, group controls and messages) do alike:
 * read it bounded before it is parsed, refuse members the format does not
 * have, and check what they encode with their own decoder. Each format
 * throws its own error type, so the caller names how a refusal is built.
 */
export type JsonObjectRefusal = 'too_large' | 'malformed';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseJsonObjectPayload(bytes: Uint8Array, maxBytes: number, what: string, refuse: (reason: JsonObjectRefusal, message: string) => Error): Record<string, unknown> {
  if (bytes.length > maxBytes) throw refuse('too_large', `${what} of ${bytes.length} bytes exceeds the ${maxBytes} bytes it may take`);
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    throw refuse('malformed', `${what} is not UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refuse('malformed', `${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** Refuses a member outside `allowed`, then a `required` one missing, naming it. */
export function checkClosedMembers(value: Record<string, unknown>, allowed: readonly string[], required: readonly string[], what: string, refuse: (message: string) => Error): void {
  const unknown = Object.keys(value).find((key) => !allowed.includes(key));
  if (unknown !== undefined) throw refuse(`${what} has no member ${JSON.stringify(unknown.slice(0, 64))}`);
  const missing = required.find((key) => !(key in value));
  if (missing !== undefined) throw refuse(`${what} lacks ${missing}`);
}

/**
 * The value's JSON, once the format's decoder has taken it: this node never
 * sends what a peer refuses. The decoder's refusal (`isRefusal`) becomes
 * the caller's INVALID_INPUT.
 */
export function encodeCheckedJson(value: Record<string, unknown>, decode: (bytes: Uint8Array) => unknown, isRefusal: (error: unknown) => error is Error): Uint8Array {
  const bytes = Buffer.from(JSON.stringify(value), 'utf8');
  try {
    decode(bytes);
  } catch (error) {
    if (isRefusal(error)) throw new P2pError('INVALID_INPUT', error.message);
    throw error;
  }
  return bytes;
}
