import t from 'tap';
import { decodeTxt, encodeTxt, MAX_TXT_ENTRY_BYTES } from '../../extension/discovery/txt-record';
import { claimFor, claimForKey, wire } from '../helpers/txt-claims';
import { WEAK_KEYS } from '../helpers/weak-keys';

const alice = claimFor(1, 'Alice');
const bob = claimFor(2, 'Bob');

t.test('a record encodeTxt writes decodes to the same claims', async (t) => {
  const encoded = encodeTxt(alice);
  t.same(Object.keys(encoded), ['id', 'fp', 'name', 'v']);
  t.same(decodeTxt(wire(encoded)), { ok: true, record: alice });
});

t.test('field order does not matter', async (t) => {
  const reversed = Object.entries(encodeTxt(alice)).reverse() as [string, string][];
  t.same(decodeTxt(wire(reversed)), { ok: true, record: alice });
});

t.test('a name too long for one TXT string is shortened at a character boundary, and still decodes', async (t) => {
  const long = '😀'.repeat(64);
  const encoded = encodeTxt({ ...alice, displayName: long });
  t.ok(Buffer.byteLength(`name=${encoded.name}`) <= MAX_TXT_ENTRY_BYTES);
  t.ok(long.startsWith(encoded.name));
  t.equal([...encoded.name].length, 62, '62 four-byte characters fit in 250 bytes');
  const decoded = decodeTxt(wire(encoded));
  t.equal(decoded.ok && decoded.record.displayName, encoded.name);
});

/** Each malformed record and the reason it must be refused for. */
const REFUSED: { name: string; entries: Uint8Array[]; reason: string }[] = [
  { name: 'more than 1 KiB in all', entries: wire({ ...encodeTxt(alice), ...padding(5, 200) }), reason: 'txt_too_large' },
  { name: 'one entry over 255 bytes', entries: [...wire(encodeTxt(alice)), Buffer.alloc(256, 0x61)], reason: 'txt_entry_too_long' },
  { name: 'an entry without "="', entries: [...wire(encodeTxt(alice)), Buffer.from('flag')], reason: 'txt_entry_malformed' },
  { name: 'an empty entry', entries: [...wire(encodeTxt(alice)), Buffer.alloc(0)], reason: 'txt_entry_malformed' },
  { name: 'an empty key', entries: [...wire(encodeTxt(alice)), Buffer.from('=x')], reason: 'txt_entry_malformed' },
  { name: 'a key that is not ASCII', entries: [...wire(encodeTxt(alice)), Buffer.from('ïd=x')], reason: 'txt_entry_malformed' },
  {
    name: 'a value that is not UTF-8',
    entries: [...wire({ id: alice.peerId, fp: alice.fingerprint, v: '1' }), Buffer.concat([Buffer.from('name='), Buffer.from([0xff, 0xfe])])],
    reason: 'txt_entry_malformed',
  },
  { name: 'a duplicate id', entries: wire([...Object.entries(encodeTxt(alice)), ['id', bob.peerId]]), reason: 'txt_duplicate_field' },
  { name: 'the same id twice', entries: wire([...Object.entries(encodeTxt(alice)), ['id', alice.peerId]]), reason: 'txt_duplicate_field' },
  { name: 'no version', entries: wire({ id: alice.peerId, fp: alice.fingerprint, name: 'Alice' }), reason: 'txt_missing_field' },
  { name: 'version 2', entries: wire({ ...encodeTxt(alice), v: '2' }), reason: 'txt_unknown_version' },
  { name: 'version " 1"', entries: wire({ ...encodeTxt(alice), v: ' 1' }), reason: 'txt_unknown_version' },
  { name: 'an unknown field', entries: wire({ ...encodeTxt(alice), addr: '10.0.0.1:1' }), reason: 'txt_unknown_field' },
  { name: 'a key in upper case', entries: wire({ ID: alice.peerId, fp: alice.fingerprint, name: 'Alice', v: '1' }), reason: 'txt_unknown_field' },
  { name: 'no fingerprint', entries: wire({ id: alice.peerId, name: 'Alice', v: '1' }), reason: 'txt_missing_field' },
  { name: 'no name', entries: wire({ id: alice.peerId, fp: alice.fingerprint, v: '1' }), reason: 'txt_missing_field' },
  { name: 'a peer id in upper case', entries: wire({ ...encodeTxt(alice), id: alice.peerId.toUpperCase() }), reason: 'txt_bad_peer_id' },
  { name: 'a peer id with padding', entries: wire({ ...encodeTxt(alice), id: `${alice.peerId}====` }), reason: 'txt_bad_peer_id' },
  { name: "another key's fingerprint", entries: wire({ ...encodeTxt(alice), fp: bob.fingerprint }), reason: 'txt_fingerprint_mismatch' },
  { name: 'a fingerprint in upper case', entries: wire({ ...encodeTxt(alice), fp: alice.fingerprint.toUpperCase() }), reason: 'txt_fingerprint_mismatch' },
  { name: 'a name with a control character', entries: wire({ ...encodeTxt(alice), name: 'Al\u0007ice' }), reason: 'txt_bad_display_name' },
  { name: 'a name with a direction override', entries: wire({ ...encodeTxt(alice), name: 'Al\u202eice' }), reason: 'txt_bad_display_name' },
  { name: 'an empty name', entries: wire({ ...encodeTxt(alice), name: '' }), reason: 'txt_bad_display_name' },
  { name: 'a name of spaces', entries: wire({ ...encodeTxt(alice), name: '   ' }), reason: 'txt_bad_display_name' },
  { name: 'no entries at all', entries: [], reason: 'txt_missing_field' },
  ...Object.entries(WEAK_KEYS).map(([reason, key]) => ({
    name: `an id whose key is refused as ${reason}, with its own fingerprint`,
    entries: wire(encodeTxt(claimForKey(key, 'Mallory'))),
    reason: `txt_key_${reason}`,
  })),
  {
    name: 'a small-order key with a bad name: the cheaper check speaks first',
    entries: wire({ ...encodeTxt(claimForKey(WEAK_KEYS.small_order, 'Mallory')), name: 'Mal\u0007lory' }),
    reason: 'txt_bad_display_name',
  },
];

for (const { name, entries, reason } of REFUSED) {
  t.test(`refused: ${name}`, async (t) => {
    const decoded = decodeTxt(entries);
    t.equal(decoded.ok, false);
    if (!decoded.ok) {
      t.equal(decoded.reason, reason);
      t.type(decoded.detail, 'string');
      t.ok(decoded.detail.length > 0, 'says why');
    }
  });
}

/** `count` extra fields of `bytes` bytes each. */
function padding(count: number, bytes: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`x${i}`, 'p'.repeat(bytes)]));
}
