/**
 * Reading JSON of unknown shape: the A2A bodies this host relays come
 * from local clients, agents and peers, and are checked field by field.
 */

/** A JSON object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The parsed value, or undefined when `text` is not JSON: a malformed body is answered, not thrown. */
export function parseJson(text: string): unknown | undefined {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
