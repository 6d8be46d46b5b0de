import { P2pError } from './errors';

/**
 * The one rule for every display name p2p-comm stores or shows: set here,
 * claimed by a peer, carried in a pairing link or an mDNS announcement.
 *
 * A name is chosen by whoever sends it, so it must not be able to disguise
 * itself or forge text around it: no control characters (C0, DEL, C1, which
 * include the 8-bit CSI), no line or paragraph separators, no format
 * characters (bidirectional controls, LRM/RLM, zero-width space and joiners,
 * word joiner, BOM, soft hyphen, tag characters), no default-ignorable
 * code points (which fonts render as nothing: combining grapheme joiner,
 * variation selectors, Mongolian free variation selectors, Khmer inherent
 * vowels, Hangul fillers), no lone surrogates, and not the braille blank, a
 * letter that renders as blank space without being default-ignorable.
 * 1-64 code points, not only whitespace.
 *
 * manifest.json's set_display_name schema repeats the character rule as a
 * pattern both JavaScript and Rust regex engines read (no \p{Cs}: a Rust
 * string cannot hold a surrogate); a test keeps the two equal.
 */
export const MAX_DISPLAY_NAME_LENGTH = 64;

/** Shown for a peer whose claimed name breaks the rule. */
export const UNNAMED_PEER = 'unnamed peer';

/** Forbidden in both patterns; \p{Default_Ignorable_Code_Point} covers the Hangul fillers, not the braille blank. */
const INVISIBLE = '\\p{Default_Ignorable_Code_Point}\\u2800';
const FORBIDDEN_CLASS = `\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Cs}${INVISIBLE}`;

/**
 * The characters a schema pattern forbids, for any text a person reads on
 * a terminal or in a dialog (display names, the notes about peers): what
 * both JavaScript and Rust regex engines read, so without \p{Cs}.
 */
export const SCHEMA_FORBIDDEN_CLASS = `\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}${INVISIBLE}`;

/** The set_display_name schema's pattern, as written in manifest.json. */
export const DISPLAY_NAME_SCHEMA_PATTERN = `^[^${SCHEMA_FORBIDDEN_CLASS}]+$`;

/** Whole-name check, length included; state files check stored names with it. */
export const DISPLAY_NAME_PATTERN = new RegExp(`^[^${FORBIDDEN_CLASS}]{1,${MAX_DISPLAY_NAME_LENGTH}}$`, 'u');

/**
 * The narrower rule earlier p2p-comm builds applied: C0 controls, DEL and
 * bidirectional overrides only. Their state files may hold a name (a peer's
 * claim, or this node's own) with, say, a zero-width or C1 character, which
 * the rule above refuses.
 */
const LEGACY_DISPLAY_NAME_PATTERN = /^[^\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]{1,64}$/u;

/** True for a name the narrower legacy rule allowed and this rule refuses: a loader replaces it instead of refusing the file. */
export function isLegacyDisplayName(name: string): boolean {
  return LEGACY_DISPLAY_NAME_PATTERN.test(name) && !DISPLAY_NAME_PATTERN.test(name);
}

const FORBIDDEN_CHARACTER = new RegExp(`[${FORBIDDEN_CLASS}]`, 'u');
const FORBIDDEN_CHARACTERS = new RegExp(`[${FORBIDDEN_CLASS}]`, 'gu');

/** Returns the name when it follows the rule; otherwise throws INVALID_INPUT naming the first problem. */
export function validateDisplayName(name: string): string {
  const length = [...name].length;
  if (length < 1 || length > MAX_DISPLAY_NAME_LENGTH) {
    throw new P2pError('INVALID_INPUT', `a display name must be 1-${MAX_DISPLAY_NAME_LENGTH} characters long, this one has ${length}`);
  }
  const forbidden = FORBIDDEN_CHARACTER.exec(name);
  if (forbidden !== null) {
    throw new P2pError(
      'INVALID_INPUT',
      `a display name must not contain control, line-separator, text-direction, zero-width or invisible characters, this one contains ${codePointName(forbidden[0])}`,
    );
  }
  if (name.trim() === '') {
    throw new P2pError('INVALID_INPUT', 'a display name must contain more than whitespace');
  }
  return name;
}

/** True when the name follows the rule. */
export function isValidDisplayName(name: string): boolean {
  return DISPLAY_NAME_PATTERN.test(name) && name.trim() !== '';
}

/** The text with every forbidden character removed, whatever its length. */
export function removeForbiddenCharacters(text: string): string {
  return text.replace(FORBIDDEN_CHARACTERS, '');
}

/** The text with every forbidden character removed, cut to the maximum length and trimmed (may be empty). */
export function stripForbiddenCharacters(text: string): string {
  return [...removeForbiddenCharacters(text)].slice(0, MAX_DISPLAY_NAME_LENGTH).join('').trim();
}

function codePointName(character: string): string {
  return `U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}
