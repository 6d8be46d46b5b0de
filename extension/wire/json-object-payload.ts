/**
 * The first step of reading a payload that is one UTF-8 JSON object (a
 * file offer or control, a group control or message): bounded before it is
 * parsed, then parsed strictly. Each format throws its own error type, so
 * the caller names how a refusal is built.
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
