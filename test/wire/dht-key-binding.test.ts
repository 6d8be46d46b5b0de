import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import HyperDHT from 'hyperdht';
import t from 'tap';
import {
  checkDhtKeyBinding,
  DHT_KEY_BINDING_BYTES,
  DHT_KEY_LABEL,
  type DhtKeySigner,
  dhtPublicKeyOf,
  signDhtKeyBinding,
} from '../../extension/wire/dht-key-binding';
import { oneBitFlips } from '../helpers/bit-flips';
import { identityFromSeed } from '../helpers/fixed-identity';

function signer(): DhtKeySigner {
  return { ...identityFromSeed(randomBytes(32)), dhtSeed: new Uint8Array(randomBytes(32)) };
}

/** The signed text as the module's comment spells it, built here independently of its code. */
function documentedSigningInput(identityKey: Uint8Array, dhtKey: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from('p2p-comm dht key v1', 'utf8'), Buffer.of(0), identityKey, dhtKey]);
}

const alice = signer();
const eve = signer();

t.test('a binding names its signer’s DHT key and checks against that signer only', async (t) => {
  const binding = signDhtKeyBinding(alice);
  t.equal(binding.length, DHT_KEY_BINDING_BYTES);
  t.equal(DHT_KEY_BINDING_BYTES, 96);
  t.equal(DHT_KEY_LABEL, 'p2p-comm dht key v1');
  t.same(binding.subarray(0, 32), dhtPublicKeyOf(alice.dhtSeed), 'the key comes first');
  t.same(checkDhtKeyBinding(binding, alice.publicKey), dhtPublicKeyOf(alice.dhtSeed), 'round trip');
  t.same(signDhtKeyBinding(alice), binding, 'the same on every start: Ed25519 signatures are deterministic');
  t.equal(checkDhtKeyBinding(binding, eve.publicKey), null, 'checked against another identity');
});

t.test('a binding signed by another identity is refused, whatever key it names', async (t) => {
  const aliceDhtKey = dhtPublicKeyOf(alice.dhtSeed);
  // Eve signs the very text Alice would sign (Alice's identity, Alice's DHT key), with her own key.
  const forged = Buffer.concat([aliceDhtKey, eve.sign(documentedSigningInput(alice.publicKey, aliceDhtKey))]);
  t.equal(checkDhtKeyBinding(forged, alice.publicKey), null, 'Eve’s signature over Alice’s statement');
  // Eve's genuine binding, replayed in Alice's name.
  t.equal(checkDhtKeyBinding(signDhtKeyBinding(eve), alice.publicKey), null, 'Eve’s own binding in Alice’s name');
  // Eve's key with Alice's signature: the signature covers the key.
  const spliced = Buffer.concat([dhtPublicKeyOf(eve.dhtSeed), signDhtKeyBinding(alice).subarray(32)]);
  t.equal(checkDhtKeyBinding(spliced, alice.publicKey), null, 'another DHT key under Alice’s signature');
  // A signature by Alice over the bare key (no label): another statement entirely.
  const unlabelled = Buffer.concat([aliceDhtKey, alice.sign(aliceDhtKey)]);
  t.equal(checkDhtKeyBinding(unlabelled, alice.publicKey), null, 'Alice’s signature over something else');
});

t.test('a flipped bit anywhere in the key or the signature, or a wrong length, is refused', async (t) => {
  const binding = signDhtKeyBinding(alice);
  let refused = 0;
  for (const [index, copy] of oneBitFlips(binding)) {
    if (checkDhtKeyBinding(copy, alice.publicKey) === null) refused += 1;
    else t.fail(`a flip in byte ${index} was accepted`);
  }
  t.equal(refused, 96, 'all 96 single-byte changes refused');
  t.equal(checkDhtKeyBinding(binding.subarray(0, 95), alice.publicKey), null, '95 bytes');
  t.equal(checkDhtKeyBinding(Buffer.concat([binding, Buffer.of(0)]), alice.publicKey), null, '97 bytes');
  t.equal(checkDhtKeyBinding(new Uint8Array(0), alice.publicKey), null, 'empty');
  t.equal(checkDhtKeyBinding(new Uint8Array(96), alice.publicKey), null, 'all zero');
  t.equal(checkDhtKeyBinding(binding, alice.publicKey.subarray(0, 31)), null, 'a short identity key');
});

t.test('the binding verifies with @noble/curves over the documented signing input', async (t) => {
  const binding = signDhtKeyBinding(alice);
  const dhtKey = binding.subarray(0, 32);
  t.ok(ed25519.verify(binding.subarray(32), documentedSigningInput(alice.publicKey, dhtKey), alice.publicKey));
  t.notOk(ed25519.verify(binding.subarray(32), documentedSigningInput(eve.publicKey, dhtKey), alice.publicKey), 'the identity key is part of the signed text');
});

t.test('dhtPublicKeyOf is the key pair hyperdht makes from the same seed (sodium), and RFC 8032’s (noble)', async (t) => {
  for (let i = 0; i < 16; i += 1) {
    const seed = new Uint8Array(randomBytes(32));
    const ours = dhtPublicKeyOf(seed);
    const sodium = HyperDHT.keyPair(seed);
    t.same(ours, new Uint8Array(sodium.publicKey), `hyperdht, seed ${i}`);
    t.same(ours, ed25519.getPublicKey(seed), `noble, seed ${i}`);
    // Sodium's secret key is seed | public key: the DHT key pair is fully determined by the seed.
    t.same(new Uint8Array(sodium.secretKey), Buffer.concat([seed, ours]), `hyperdht's secret key, seed ${i}`);
  }
});
