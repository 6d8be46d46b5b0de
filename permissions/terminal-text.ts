import { escapeUnsafeInJson } from '../extension/common/quote-text';

/**
 * Text that reaches a person's terminal from somewhere else (a plugin's
 * input, a peer's display name, an operation name from a URL, the audit
 * log) is shown with every character that could act on the terminal or on
 * how the text reads escaped as \u{...}: C0 and C1 controls (ESC, the 8-bit
 * CSI), line and paragraph separators, and format characters (bidirectional
 * overrides and isolates, zero-width characters, soft hyphen). The rest is
 * shown as is.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

export function printable(text: string): string {
  return text.replace(UNSAFE, (character) => `\\u{${(character.codePointAt(0) ?? 0).toString(16)}}`);
}

/**
 * JSON for a terminal or a log a person may `cat`: the same value, with the
 * unsafe characters written as JSON \u escapes (the line breaks of an
 * indented result are its own).
 */
export function printableJson(value: unknown, indent?: number): string {
  return escapeUnsafeInJson(JSON.stringify(value, null, indent));
}
