/**
 * Characters JSON.stringify leaves as they are although they act on a
 * terminal or change how the text around them reads: DEL and C1 controls
 * (the 8-bit CSI), format characters (bidirectional overrides and isolates,
 * zero-width characters, soft hyphen), line and paragraph separators. C0
 * controls and lone surrogates it escapes itself.
 */
const UNSAFE_IN_JSON = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/gu;

/** JSON text with those characters written as \u escapes: it parses back to the same value. */
export function escapeUnsafeInJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (character) =>
    Array.from({ length: character.length }, (_, index) => `\\u${character.charCodeAt(index).toString(16).padStart(4, '0')}`).join(''),
  );
}

/** Longest part of an outside value an error message quotes. */
export const MAX_QUOTED_LENGTH = 64;

/**
 * An outside value (from a pairing link, a peer, a plugin) quoted for an
 * error message, which hosts show to people and write to logs: a JSON
 * string with nothing that could act on a terminal or forge a log line, cut
 * to its first `MAX_QUOTED_LENGTH` characters and an ellipsis.
 */
export function quoteUntrusted(text: string): string {
  const characters = [...text];
  if (characters.length <= MAX_QUOTED_LENGTH) return escapeUnsafeInJson(JSON.stringify(text));
  return `${escapeUnsafeInJson(JSON.stringify(characters.slice(0, MAX_QUOTED_LENGTH).join('')))}…`;
}
