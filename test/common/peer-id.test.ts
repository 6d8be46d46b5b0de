import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import { cachedPublicKeyFromPeerId, fingerprintOf, PEER_ID_PATTERN, peerIdFromPublicKey, publicKeyFromPeerId, publicKeyFromUntrustedPeerId } from '../../extension/common/peer-id';
import { manifest } from '../../extension/common/manifest';
import type { PublicKeyRefusal } from '../../extension/common/ed25519-public-key';
import { ed25519FromSeed } from '../../extension/wire/primitives';
import { WEAK_KEYS } from '../helpers/weak-keys';

/** RFC 4648 base32 done another way: the key as one big number, read 5 bits at a time from the top. */
function referenceBase32(bytes: Uint8Array): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const characters = Math.ceil((bytes.length * 8) / 5);
  const padBits = BigInt(characters * 5 - bytes.length * 8);
  let number = BigInt(`0x${Buffer.from(bytes).toString('hex')}`) << padBits;
  let out = '';
  for (let i = 0; i < characters; i += 1) {
    out = alphabet.charAt(Number(number & 31n)) + out;
    number >>= 5n;
  }
  return out;
}

t.test('round trip on random keys, in the one canonical spelling', async (t) => {
  for (let i = 0; i < 200; i += 1) {
    const key = new Uint8Array(randomBytes(32));
    const peerId = peerIdFromPublicKey(key);
    t.equal(peerId, referenceBase32(key));
    t.match(peerId, PEER_ID_PATTERN);
    t.same(publicKeyFromPeerId(peerId), key);
  }
});

t.test('known vectors', async (t) => {
  // Written down once from Python's base64.b32encode (lower-cased, padding removed).
  t.equal(peerIdFromPublicKey(new Uint8Array(32)), 'a'.repeat(52));
  t.equal(peerIdFromPublicKey(new Uint8Array(32).fill(0xff)), `${'7'.repeat(51)}q`);
  const counting = Uint8Array.from({ length: 32 }, (_, i) => i);
  t.equal(peerIdFromPublicKey(counting), 'aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq');
  t.same(publicKeyFromPeerId('aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq'), counting);
  t.equal(referenceBase32(counting), 'aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq', 'the reference encoder agrees');
});

t.test('only 32-byte keys have a peer id', async (t) => {
  t.throws(() => peerIdFromPublicKey(new Uint8Array(31)), /32 bytes, got 31/);
  t.throws(() => peerIdFromPublicKey(new Uint8Array(33)), /32 bytes, got 33/);
});

t.test('every non-canonical spelling is refused', async (t) => {
  const peerId = peerIdFromPublicKey(new Uint8Array(randomBytes(32)));
  const body = peerId.slice(0, 51);
  const refused = [
    '',
    peerId.toUpperCase(),
    `${body.slice(0, 10).toUpperCase()}${body.slice(10)}a`,
    `${peerId}====`,
    `${body}a=`,
    body,
    `${peerId}a`,
    `${body}b`,
    `${body}7`,
    `0${peerId.slice(1)}`,
    `1${peerId.slice(1)}`,
    `8${peerId.slice(1)}`,
    `9${peerId.slice(1)}`,
    ` ${peerId.slice(1)}`,
    `${body.slice(0, 50)}-a`,
  ];
  for (const spelling of refused) {
    t.throws(() => publicKeyFromPeerId(spelling), { name: 'P2pError', errorName: 'INVALID_INPUT', message: /is not a peer id: a peer id is 52 characters/ }, JSON.stringify(spelling));
  }
  t.throws(() => publicKeyFromPeerId('x'.repeat(10_000)), { message: /^"x{64}"… is not a peer id/ }, 'long input is cut in the message');
  t.throws(() => publicKeyFromPeerId('a\u202eb\u001b[2J\u2028'), { message: /^"a\\u202eb\\u001b\[2J\\u2028" is not a peer id/ }, 'quoted escaped');
});

t.test('an untrusted peer id must hold a usable key; a trusted one is read as it is', async (t) => {
  const { publicKey } = ed25519FromSeed(randomBytes(32));
  t.same(publicKeyFromUntrustedPeerId(peerIdFromPublicKey(publicKey), 'peer'), publicKey);
  for (const [reason, key] of Object.entries(WEAK_KEYS) as [PublicKeyRefusal, Uint8Array][]) {
    const peerId = peerIdFromPublicKey(key);
    t.same(publicKeyFromPeerId(peerId), key, `${reason}: publicKeyFromPeerId checks the spelling only`);
    t.throws(
      () => publicKeyFromUntrustedPeerId(peerId, 'peer'),
      {
        name: 'P2pError',
        errorName: 'INVALID_INPUT',
        message: new RegExp(`^${peerId} is not a usable peer id: its key .*\\(${reason}\\)`),
        details: { path: '/peer', rule: 'ed25519_public_key', reason },
      },
      reason,
    );
  }
  t.throws(() => publicKeyFromUntrustedPeerId('not a peer id', 'peer'), { errorName: 'INVALID_INPUT', message: /is not a peer id/ }, 'the spelling is checked first');
});

t.test('fingerprint: the first 16 bytes of SHA-256 of the key, as hex pairs', async (t) => {
  // SHA-256 of 32 zero bytes is 66687aad f862bd77 6c8fc18b 8e9f8e20 ...
  t.equal(fingerprintOf(new Uint8Array(32)), '66:68:7a:ad:f8:62:bd:77:6c:8f:c1:8b:8e:9f:8e:20');
  const key = new Uint8Array(randomBytes(32));
  const fingerprint = fingerprintOf(key);
  t.equal(fingerprint.length, 47);
  t.equal(fingerprint.replaceAll(':', ''), createHash('sha256').update(key).digest('hex').slice(0, 32));
});

t.test('PEER_ID_PATTERN is the pattern manifest.json gives every peer field', async (t) => {
  const revoke = manifest.operations.find((operation) => operation.name === 'revoke');
  const properties = revoke?.input_schema['properties'] as Record<string, { pattern?: string }> | undefined;
  t.equal(properties?.['peer']?.pattern, PEER_ID_PATTERN.source);
  const peerFields = manifest.operations.flatMap((operation) => {
    const fields = (operation.input_schema['properties'] ?? {}) as Record<string, { pattern?: string }>;
    return fields['peer'] === undefined ? [] : [fields['peer']];
  });
  t.ok(peerFields.length > 1);
  for (const field of peerFields) t.equal(field.pattern, PEER_ID_PATTERN.source);
});

t.test('the cached key is the key the peer id spells, and a bad id is refused every time', async (t) => {
  const keys = Array.from({ length: 1100 }, () => new Uint8Array(randomBytes(32)));
  // More ids than the cache keeps: it starts afresh on the way and still answers each right.
  for (const key of keys) t.same(cachedPublicKeyFromPeerId(peerIdFromPublicKey(key)), key);
  for (const key of keys.slice(0, 3)) t.same(cachedPublicKeyFromPeerId(peerIdFromPublicKey(key)), key, 'again, from the cache or not');
  const bad = 'a'.repeat(52).replace(/a$/, 'b');
  for (let round = 0; round < 2; round += 1) t.throws(() => cachedPublicKeyFromPeerId(bad), { name: 'P2pError', errorName: 'INVALID_INPUT' });
});
