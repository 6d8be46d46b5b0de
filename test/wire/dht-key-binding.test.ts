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
  t.equal(DHT_KEY_BINDING_BYTES, 160);
  t.equal(DHT_KEY_LABEL, 'p2p-comm dht key v1');
  t.same(binding.subarray(0, 32), dhtPublicKeyOf(alice.dhtSeed), 'the key comes first');
  t.same(checkDhtKeyBinding(binding, alice.publicKey), dhtPublicKeyOf(alice.dhtSeed), 'round trip');
  t.same(signDhtKeyBinding(alice), binding, 'the same on every start: Ed25519 signatures are deterministic');
  t.equal(checkDhtKeyBinding(binding, eve.publicKey), null, 'checked against another identity');
});

t.test('a binding is refused unless both the identity and the DHT key signed it', async (t) => {
  const aliceDhtKey = dhtPublicKeyOf(alice.dhtSeed);
  const aliceText = documentedSigningInput(alice.publicKey, aliceDhtKey);
  const aliceDhtSignature = ed25519.sign(aliceText, alice.dhtSeed);
  // Eve signs the very text Alice would sign, with her own identity key.
  const forged = Buffer.concat([aliceDhtKey, eve.sign(aliceText), aliceDhtSignature]);
  t.equal(checkDhtKeyBinding(forged, alice.publicKey), null, 'Eve’s identity signature over Alice’s statement');
  t.equal(checkDhtKeyBinding(signDhtKeyBinding(eve), alice.publicKey), null, 'Eve’s own binding in Alice’s name');
  // Eve names Alice's DHT key in a binding of her own: she cannot sign with it, so nobody is sent to Alice's node.
  const eveText = documentedSigningInput(eve.publicKey, aliceDhtKey);
  const naming = Buffer.concat([aliceDhtKey, eve.sign(eveText), ed25519.sign(eveText, new Uint8Array(randomBytes(32)))]);
  t.equal(checkDhtKeyBinding(naming, eve.publicKey), null, 'another node’s DHT key, without that key’s signature');
  t.equal(checkDhtKeyBinding(Buffer.concat([aliceDhtKey, eve.sign(eveText), aliceDhtSignature]), eve.publicKey), null, 'with the key’s signature of another statement');
  const spliced = Buffer.concat([dhtPublicKeyOf(eve.dhtSeed), signDhtKeyBinding(alice).subarray(32)]);
  t.equal(checkDhtKeyBinding(spliced, alice.publicKey), null, 'another DHT key under Alice’s signatures');
  const unlabelled = Buffer.concat([aliceDhtKey, alice.sign(aliceDhtKey), ed25519.sign(aliceDhtKey, alice.dhtSeed)]);
  t.equal(checkDhtKeyBinding(unlabelled, alice.publicKey), null, 'signatures over something else');
  // A small-order DHT key "verifies" a forged signature under OpenSSL (R = identity, S = 0): refused as no one's key.
  const smallOrder = Buffer.concat([Buffer.of(1), Buffer.alloc(31)]);
  const text = documentedSigningInput(eve.publicKey, smallOrder);
  const weak = Buffer.concat([smallOrder, eve.sign(text), Buffer.concat([Buffer.of(1), Buffer.alloc(63)])]);
  t.equal(checkDhtKeyBinding(weak, eve.publicKey), null, 'a small-order DHT key');
});

t.test('a flipped bit anywhere in the key or the signatures, or a wrong length, is refused', async (t) => {
  const binding = signDhtKeyBinding(alice);
  let refused = 0;
  for (const [index, copy] of oneBitFlips(binding)) {
    if (checkDhtKeyBinding(copy, alice.publicKey) === null) refused += 1;
    else t.fail(`a flip in byte ${index} was accepted`);
  }
  t.equal(refused, 160, 'all 160 single-byte changes refused');
  t.equal(checkDhtKeyBinding(binding.subarray(0, 159), alice.publicKey), null, '159 bytes');
  t.equal(checkDhtKeyBinding(binding.subarray(0, 96), alice.publicKey), null, '96 bytes: the key and the identity signature alone');
  t.equal(checkDhtKeyBinding(Buffer.concat([binding, Buffer.of(0)]), alice.publicKey), null, '161 bytes');
  t.equal(checkDhtKeyBinding(new Uint8Array(0), alice.publicKey), null, 'empty');
  t.equal(checkDhtKeyBinding(new Uint8Array(160), alice.publicKey), null, 'all zero');
  t.equal(checkDhtKeyBinding(binding, alice.publicKey.subarray(0, 31)), null, 'a short identity key');
});

t.test('both signatures verify with @noble/curves over the documented signing input', async (t) => {
  const binding = signDhtKeyBinding(alice);
  const dhtKey = binding.subarray(0, 32);
  const text = documentedSigningInput(alice.publicKey, dhtKey);
  t.ok(ed25519.verify(binding.subarray(32, 96), text, alice.publicKey), 'the identity’s');
  t.ok(ed25519.verify(binding.subarray(96), text, dhtKey), 'the DHT key’s');
  t.notOk(ed25519.verify(binding.subarray(32, 96), documentedSigningInput(eve.publicKey, dhtKey), alice.publicKey), 'the identity key is part of the signed text');
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
