import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import t from 'tap';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import {
  SAFETY_NUMBER_DOMAIN,
  SAFETY_NUMBER_ITERATIONS,
  SAFETY_NUMBER_VERSION,
  safetyNumber,
  safetyNumberHalf,
} from '../../extension/common/safety-number';

/** docs/vectors/safety-number-v1.json: the vectors docs/protocol.md §14 publishes. */
const vectors = JSON.parse(readFileSync(join(__dirname, '..', '..', 'docs', 'vectors', 'safety-number-v1.json'), 'utf8')) as {
  version: number;
  domain: string;
  iterations: number;
  keys: { identity_seed: string; public_key: string; peer_id: string; first_digest: string; final_digest: string; half: string }[];
  pairs: { my_public_key: string; their_public_key: string; safety_number: string }[];
};
const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));
const hex = (data: Uint8Array): string => Buffer.from(data).toString('hex');

/** docs/protocol.md §14 read literally, with noble's SHA-512 and big-number arithmetic. */
function referenceRounds(publicKey: Uint8Array, rounds: number): Uint8Array {
  let digest = new Uint8Array([0, 1, ...publicKey, ...new TextEncoder().encode('p2p-comm safety number')]);
  for (let round = 0; round < rounds; round += 1) digest = sha512(new Uint8Array([...digest, ...publicKey]));
  return digest;
}

function referenceHalf(publicKey: Uint8Array): string {
  const digest = referenceRounds(publicKey, 5200);
  let digits = '';
  for (let group = 0; group < 7; group += 1) {
    const value = BigInt(`0x${hex(digest.subarray(group * 5, group * 5 + 5))}`) % 100000n;
    digits += value.toString().padStart(5, '0');
  }
  return digits;
}

function referenceSafetyNumber(a: Uint8Array, b: Uint8Array): string {
  const [first, second] = [referenceHalf(a), referenceHalf(b)].sort();
  return `${first}${second}`.replace(/(\d{5})(?=\d)/g, '$1 ');
}

t.test('the constants are the ones the vectors and docs/protocol.md name', async (t) => {
  t.equal(SAFETY_NUMBER_VERSION, vectors.version);
  t.equal(SAFETY_NUMBER_DOMAIN, vectors.domain);
  t.equal(SAFETY_NUMBER_ITERATIONS, vectors.iterations);
});

t.test('the project code reproduces the published vectors', async (t) => {
  for (const key of vectors.keys) {
    const publicKey = bytes(key.public_key);
    t.equal(hex(ed25519.getPublicKey(bytes(key.identity_seed))), key.public_key, 'the key is the seed’s');
    t.equal(peerIdFromPublicKey(publicKey), key.peer_id);
    t.equal(safetyNumberHalf(publicKey), key.half);
  }
  for (const pair of vectors.pairs) {
    t.equal(safetyNumber(bytes(pair.my_public_key), bytes(pair.their_public_key)), pair.safety_number);
  }
});

t.test('an independent implementation (noble) reads the vectors the way docs/protocol.md says', async (t) => {
  for (const key of vectors.keys) {
    const publicKey = bytes(key.public_key);
    t.equal(hex(referenceRounds(publicKey, 1)), key.first_digest, 'one round');
    t.equal(hex(referenceRounds(publicKey, 5200)), key.final_digest, 'all rounds');
    t.equal(referenceHalf(publicKey), key.half);
  }
  for (const pair of vectors.pairs) {
    t.equal(referenceSafetyNumber(bytes(pair.my_public_key), bytes(pair.their_public_key)), pair.safety_number);
  }
});

t.test('node:crypto and noble agree on random keys', async (t) => {
  for (let i = 0; i < 4; i += 1) {
    const mine = new Uint8Array(randomBytes(32));
    const theirs = new Uint8Array(randomBytes(32));
    t.equal(safetyNumberHalf(mine), referenceHalf(mine));
    t.equal(safetyNumber(mine, theirs), referenceSafetyNumber(mine, theirs));
  }
});

t.test('both people see the same number: 14 groups of 5 digits, each half whole', async (t) => {
  const alice = new Uint8Array(randomBytes(32));
  const bob = new Uint8Array(randomBytes(32));
  const number = safetyNumber(alice, bob);
  t.equal(safetyNumber(bob, alice), number);
  t.match(number, /^[0-9]{5}( [0-9]{5}){13}$/);
  const digits = number.replaceAll(' ', '');
  t.same([digits.slice(0, 35), digits.slice(35)], [safetyNumberHalf(alice), safetyNumberHalf(bob)].sort());
});

t.test('one flipped key bit changes that key’s half', async (t) => {
  const key = new Uint8Array(randomBytes(32));
  const flipped = Uint8Array.from(key);
  flipped[31] = (flipped[31] as number) ^ 1;
  t.not(safetyNumberHalf(flipped), safetyNumberHalf(key));
  const other = new Uint8Array(randomBytes(32));
  t.not(safetyNumber(flipped, other), safetyNumber(key, other));
});

t.test('a key of the wrong length is refused', async (t) => {
  t.throws(() => safetyNumberHalf(new Uint8Array(31)), /32 bytes, got 31/);
  t.throws(() => safetyNumber(new Uint8Array(32), new Uint8Array(33)), /32 bytes, got 33/);
});
