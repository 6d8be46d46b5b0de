import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';
import t from 'tap';
import {
  checkPublicKey,
  describePublicKeyRefusal,
  publicKeyRefusal,
  refusalOfVerifiedKey,
  rememberingAcceptedKeys,
  type PublicKeyRefusal,
} from '../../extension/common/ed25519-public-key';
import { ed25519FromSeed, ed25519Verify } from '../../extension/wire/primitives';
import { buildVectors, checkConsistent, reasonOfFlags, VECTORS_FILE, type Flag, type KeyVector } from '../helpers/ed25519-key-vectors';
import { verdictOf } from '../helpers/ed25519-reference';
import { IDENTITY_KEY, IDENTITY_SIGNATURE, WEAK_KEYS } from '../helpers/weak-keys';

const file = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as { numberOfTests: number; notes: Record<string, unknown>; testGroups: { tests: KeyVector[] }[] };
const vectors = file.testGroups.flatMap((group) => group.tests);
const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));

t.test('docs/vectors/ed25519-public-keys.json is exactly what the BigInt reference makes', async (t) => {
  t.same(file, buildVectors());
  t.equal(file.numberOfTests, vectors.length);
  const flags = new Set(vectors.flatMap((vector) => vector.flags));
  t.same([...flags].sort(), Object.keys(file.notes).sort(), 'every flag is explained in notes, and every note used');
});

t.test("the file's verdicts agree with an independent recomputation of the curve", async (t) => {
  for (const vector of vectors) t.doesNotThrow(() => checkConsistent(vector), `tcId ${vector.tcId}: ${vector.comment}`);
});

t.test("the module's verdicts agree with the file, reason included", async (t) => {
  for (const vector of vectors) {
    t.equal(publicKeyRefusal(bytes(vector.key)), reasonOfFlags(vector.flags), `tcId ${vector.tcId}: ${vector.comment}`);
  }
});

t.test('the file covers what it claims to', async (t) => {
  const flagged = (...flags: Flag[]) => vectors.filter((vector) => vector.flags.length === flags.length && flags.every((flag) => vector.flags.includes(flag)));
  t.same(flagged('SmallOrder').map((vector) => vector.key).sort(), [...ED25519_TORSION_SUBGROUP].sort(), 'the eight small-order points, as noble lists them too');
  t.equal(flagged('SmallOrder', 'NonCanonicalSign').length, 2, 'the two with x = 0, sign bit set');
  t.equal(flagged('SmallOrder', 'NonCanonicalY').length, 3, 'y + p where it fits: the identity and both points with y = 0');
  t.ok(flagged('NonCanonicalY').length > 0, 'y >= p spellings of points of large order');
  t.ok(flagged('NotOnCurve').length > 0 && flagged('NonCanonicalY', 'NotOnCurve').length > 0, 'y with no point, below p and above');
  t.ok(flagged('MixedOrder').length > 0, 'mixed-order points, accepted');
  t.ok(vectors.filter((vector) => vector.result === 'valid').length >= 5, 'several valid keys');
});

t.test('OpenSSL accepts R = identity, S = 0 for any message under the identity key: why the check exists', async (t) => {
  for (const message of ['pay Mallory', 'anything at all', '']) {
    t.equal(ed25519Verify(IDENTITY_KEY, Buffer.from(message), IDENTITY_SIGNATURE), true, JSON.stringify(message));
  }
  t.equal(publicKeyRefusal(IDENTITY_KEY), 'small_order');
});

t.test('keys made from seeds are accepted', async (t) => {
  for (let i = 0; i < 100; i += 1) {
    const { publicKey } = ed25519FromSeed(randomBytes(32));
    t.equal(publicKeyRefusal(publicKey), null);
  }
});

t.test('random bytes: the module and the reference give the same reason', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 100; i += 1) {
    const key = new Uint8Array(randomBytes(32));
    const expected = verdictOf(Buffer.from(key).toString('hex'));
    seen.add(String(expected));
    t.equal(publicKeyRefusal(key), expected, Buffer.from(key).toString('hex'));
  }
  t.ok(seen.has('null') && seen.has('not_on_curve'), 'both points and non-points were drawn');
});

t.test('each reason has its own description, and the examples used in other tests are what they claim', async (t) => {
  const reasons = Object.keys(WEAK_KEYS) as PublicKeyRefusal[];
  t.equal(new Set(reasons.map(describePublicKeyRefusal)).size, reasons.length);
  for (const reason of reasons) t.equal(publicKeyRefusal(WEAK_KEYS[reason]), reason);
  for (const reason of reasons) t.ok(vectors.some((vector) => vector.key === Buffer.from(WEAK_KEYS[reason]).toString('hex')), `${reason} example is a vector`);
});

t.test('a key of another length is a programming error, not a verdict', async (t) => {
  t.throws(() => publicKeyRefusal(new Uint8Array(31)), RangeError);
  t.throws(() => publicKeyRefusal(new Uint8Array(33)), RangeError);
});

t.test('an accepted key is checked once; a refused one every time; the memory of accepted keys is bounded', async (t) => {
  let checks = 0;
  const refusal = rememberingAcceptedKeys((key) => {
    checks += 1;
    return checkPublicKey(key);
  }, 3);
  const accepted = ed25519FromSeed(randomBytes(32)).publicKey;
  t.equal(refusal(accepted), null);
  t.equal(refusal(new Uint8Array(accepted)), null, 'the same key in another array');
  t.equal(refusal(new Uint8Array([0, ...accepted]).subarray(1)), null, 'and in a view at an offset');
  t.equal(checks, 1, 'the later looks took the remembered verdict');
  t.equal(refusal(WEAK_KEYS.small_order), 'small_order');
  t.equal(refusal(WEAK_KEYS.small_order), 'small_order');
  t.equal(checks, 3, 'a refused key is checked again');
  for (let i = 0; i < 3; i += 1) refusal(ed25519FromSeed(randomBytes(32)).publicKey);
  checks = 0;
  t.equal(refusal(accepted), null);
  t.equal(checks, 1, 'forgotten once more keys than the limit were accepted, and checked again');
  t.throws(() => refusal(new Uint8Array(31)), RangeError, 'a key of another length is refused before any memory');
});

t.test('on every key that is a point, the check after a verified signature gives the verdict of the whole check', async (t) => {
  const points = vectors.filter((vector) => !vector.flags.includes('NotOnCurve'));
  t.ok(points.length > 0 && points.length < vectors.length);
  for (const vector of points) t.equal(refusalOfVerifiedKey(bytes(vector.key)), reasonOfFlags(vector.flags), `tcId ${vector.tcId}: ${vector.comment}`);
  t.throws(() => refusalOfVerifiedKey(new Uint8Array(31)), RangeError);
});

t.test('under a key that is no point, OpenSSL verifies not even the signature that holds under the identity point', async (t) => {
  const message = Buffer.from('pay Mallory');
  t.equal(ed25519Verify(IDENTITY_KEY, message, IDENTITY_SIGNATURE), true, 'it holds under the identity point');
  for (const vector of vectors.filter((vector) => vector.flags.includes('NotOnCurve'))) {
    t.equal(ed25519Verify(bytes(vector.key), message, IDENTITY_SIGNATURE), false, `tcId ${vector.tcId}: ${vector.comment}`);
  }
});
