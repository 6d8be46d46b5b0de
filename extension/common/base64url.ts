/**
 * Unpadded base64url (RFC 4648 §5) of exactly `length` bytes, in its one
 * canonical spelling: Buffer.from alone skips stray characters and ignores
 * the unused low bits of the last character, so two texts could carry the
 * same bytes. Null for anything else.
 */
export function decodeBase64urlExact(text: string, length: number): Uint8Array | null {
  if (text.length !== Math.ceil((length * 4) / 3) || !/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length !== length || bytes.toString('base64url') !== text) return null;
  return new Uint8Array(bytes);
}

/** Like decodeBase64urlExact, for a field of 1 to `maxLength` bytes whose exact size its own framing gives. */
export function decodeBase64urlUpTo(text: string, maxLength: number): Uint8Array | null {
  if (text.length === 0 || text.length > Math.ceil((maxLength * 4) / 3) || !/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length === 0 || bytes.length > maxLength || bytes.toString('base64url') !== text) return null;
  return new Uint8Array(bytes);
}

export function encodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}
