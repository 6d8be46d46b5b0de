/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the one serialization of a
 * JSON value that A2A agent card signatures are computed over (A2A v1.0
 * §8.4.1), so that two implementations sign and verify the same bytes.
 *
 * - literals `null`, `true`, `false`;
 * - numbers as ECMAScript's Number-to-String (RFC 8785 §3.2.2.3), which is
 *   what JSON.stringify writes for a finite number (-0 as `0`); NaN and
 *   the infinities have no JSON form and are refused;
 * - strings with only `"`, `\`, and the C0 controls escaped: \b \t \n \f \r
 *   by name, the rest as \u00xx in lower-case hex; every other character,
 *   U+2028 and U+2029 included, as itself (§3.2.2.2, JSON.stringify's
 *   rules for a well-formed string). A lone surrogate has no UTF-8 form and
 *   is refused (I-JSON, RFC 7493);
 * - object members sorted by their names as arrays of UTF-16 code units
 *   (§3.2.3), which is how Array.prototype.sort compares strings; no
 *   whitespace anywhere.
 *
 * The result is a string; its UTF-8 encoding is what gets signed.
 */
export class JcsError extends Error {
  override name = 'JcsError';
}

const LONE_SURROGATE = /\p{Cs}/u;

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new JcsError(`${value} has no JSON form`);
    return JSON.stringify(value);
  }
  if (typeof value === 'string') return canonicalString(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isPlainObject(value)) {
    const members = Object.keys(value)
      .sort()
      .map((name) => `${canonicalString(name)}:${canonicalJson(value[name])}`);
    return `{${members.join(',')}}`;
  }
  throw new JcsError(`a ${typeof value} is not a JSON value`);
}

function canonicalString(text: string): string {
  if (LONE_SURROGATE.test(text)) throw new JcsError('a string holds an unpaired UTF-16 surrogate, which has no UTF-8 form');
  return JSON.stringify(text);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}
