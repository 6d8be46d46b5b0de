import { describePublicKeyRefusal, publicKeyRefusal, type PublicKeyRefusal } from '../common/ed25519-public-key';
import { fingerprintOf, PEER_ID_PATTERN, publicKeyFromPeerId } from '../common/peer-id';
import { validateDisplayName } from '../common/display-name';

/**
 * The TXT record a node announces with its mDNS service (docs/discovery.md):
 * `id=<peer id>`, `fp=<fingerprint>`, `name=<display name>`, `v=1`. Anyone
 * on the LAN can announce anything, so these are claims, checked here only
 * for form, and `id` for a key that can stand for someone at all; the
 * handshake later proves (or refutes) the key behind `id`.
 */
export interface TxtRecord {
  peerId: string;
  fingerprint: string;
  displayName: string;
}

const TXT_VERSION = '1';

/** DNS caps one TXT string at 255 bytes (RFC 6763 §6.1). */
export const MAX_TXT_ENTRY_BYTES = 255;

/** Our own record is under 400 bytes; a larger one is refused before any field is read. Counted as on the wire: a length byte per string. */
const MAX_TXT_TOTAL_BYTES = 1024;

const FIELDS = ['id', 'fp', 'name', 'v'] as const;
type Field = (typeof FIELDS)[number];

export type TxtRefusal =
  | 'txt_too_large'
  | 'txt_entry_too_long'
  | 'txt_entry_malformed'
  | 'txt_duplicate_field'
  | 'txt_unknown_field'
  | 'txt_missing_field'
  | 'txt_unknown_version'
  | 'txt_bad_peer_id'
  | 'txt_fingerprint_mismatch'
  | `txt_key_${PublicKeyRefusal}`
  | 'txt_bad_display_name';

export type TxtDecoding = { ok: true; record: TxtRecord } | { ok: false; reason: TxtRefusal; detail: string };

/** The key/value pairs bonjour-service writes as `key=value` strings, in this order. */
export function encodeTxt(record: TxtRecord): Record<Field, string> {
  return { id: record.peerId, fp: record.fingerprint, name: fitName(record.displayName), v: TXT_VERSION };
}

/**
 * A display name is at most 64 code points, which can be 256 bytes of UTF-8;
 * with `name=` that can exceed one TXT string. The name in an announcement
 * is only a hint, so it is shortened rather than breaking the record.
 */
function fitName(name: string): string {
  const room = MAX_TXT_ENTRY_BYTES - Buffer.byteLength('name=');
  let fitted = '';
  for (const codePoint of name) {
    if (Buffer.byteLength(fitted + codePoint) > room) break;
    fitted += codePoint;
  }
  return fitted;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
/** RFC 6763 §6.4: keys are printable US-ASCII without `=`. */
const KEY_PATTERN = /^[\x20-\x3c\x3e-\x7e]+$/;

/** Reads a TXT record as received (one byte string per entry), refusing anything but exactly the record encodeTxt writes. */
export function decodeTxt(entries: readonly Uint8Array[]): TxtDecoding {
  const total = entries.reduce((sum, entry) => sum + 1 + entry.length, 0);
  if (total > MAX_TXT_TOTAL_BYTES) return refuse('txt_too_large', `the record has ${total} bytes, at most ${MAX_TXT_TOTAL_BYTES} are accepted`);
  const fields = new Map<string, string>();
  for (const entry of entries) {
    const parsed = parseEntry(entry);
    if (!parsed.ok) return parsed;
    if (fields.has(parsed.key)) return refuse('txt_duplicate_field', `"${parsed.key}" appears more than once`);
    fields.set(parsed.key, parsed.value);
  }
  const version = fields.get('v');
  if (version === undefined) return refuse('txt_missing_field', 'there is no "v" field');
  if (version !== TXT_VERSION) return refuse('txt_unknown_version', `version ${JSON.stringify(version)} is not ${TXT_VERSION}`);
  const unknown = [...fields.keys()].find((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown !== undefined) return refuse('txt_unknown_field', `"${unknown}" is not a field of version ${TXT_VERSION}`);
  const missing = FIELDS.find((field) => !fields.has(field));
  if (missing !== undefined) return refuse('txt_missing_field', `there is no "${missing}" field`);
  return checkClaims(fields.get('id') ?? '', fields.get('fp') ?? '', fields.get('name') ?? '');
}

type ParsedEntry = { ok: true; key: string; value: string } | { ok: false; reason: TxtRefusal; detail: string };

function parseEntry(entry: Uint8Array): ParsedEntry {
  if (entry.length > MAX_TXT_ENTRY_BYTES) return refuse('txt_entry_too_long', `an entry has ${entry.length} bytes, at most ${MAX_TXT_ENTRY_BYTES}`);
  const bytes = Buffer.from(entry.buffer, entry.byteOffset, entry.length);
  const separator = bytes.indexOf(0x3d);
  if (separator < 1) return refuse('txt_entry_malformed', 'an entry is not key=value');
  const key = bytes.subarray(0, separator).toString('latin1');
  if (!KEY_PATTERN.test(key)) return refuse('txt_entry_malformed', 'a key is not printable ASCII');
  try {
    return { ok: true, key, value: UTF8.decode(bytes.subarray(separator + 1)) };
  } catch {
    return refuse('txt_entry_malformed', `the value of "${key}" is not UTF-8`);
  }
}

function checkClaims(peerId: string, fingerprint: string, displayName: string): TxtDecoding {
  if (!PEER_ID_PATTERN.test(peerId)) return refuse('txt_bad_peer_id', '"id" is not a peer id in its one canonical spelling');
  const publicKey = publicKeyFromPeerId(peerId);
  if (fingerprint !== fingerprintOf(publicKey)) {
    return refuse('txt_fingerprint_mismatch', '"fp" is not the fingerprint of the key in "id"');
  }
  try {
    validateDisplayName(displayName);
  } catch (error) {
    return refuse('txt_bad_display_name', (error as Error).message);
  }
  // Last: it costs the most (a point decoding, about 0.1 ms).
  const keyRefusal = publicKeyRefusal(publicKey);
  if (keyRefusal !== null) return refuse(`txt_key_${keyRefusal}`, `the key in "id" ${describePublicKeyRefusal(keyRefusal)}`);
  return { ok: true, record: { peerId, fingerprint, displayName } };
}

function refuse(reason: TxtRefusal, detail: string): { ok: false; reason: TxtRefusal; detail: string } {
  return { ok: false, reason, detail };
}
