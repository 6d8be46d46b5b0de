import { createPublicKey, diffieHellman, sign, type KeyObject } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import t, { type Test } from 'tap';
import { ed25519FromSeed, ephemeralFromSecret, fromJwkSecret, fromPkcs8, jwkSecretImportWorks, type PrivateKeyImport } from '../../extension/wire/primitives';

/*
 * The JWK import serves Node 20, the PKCS#8 one the Node 24 of the
 * single-file executables: the tests run on one Node, so both are held to
 * the RFC vectors here, the JWK one wherever this Node accepts it.
 */

const hex = (text: string): Buffer => Buffer.from(text, 'hex');

/** RFC 8032 section 7.1, test 1. */
const ED25519 = {
  secret: hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
  publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  signatureOfEmpty:
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
};

/** RFC 7748 section 6.1: Alice's key and Bob's public key; the shared secret is checked against noble. */
const X25519 = {
  secret: hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'),
  publicKey: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  peerPublicKey: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
};

function publicKeyOf(privateKey: KeyObject): string {
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 32).toString('hex');
}

/** The public key the JWK export reads out, as the key pairs below are made. */
function exportedPublicKeyOf(privateKey: KeyObject): string | undefined {
  const { x } = privateKey.export({ format: 'jwk' });
  return x === undefined ? undefined : Buffer.from(x, 'base64url').toString('hex');
}

function checkImport(t: Test, name: string, importKey: PrivateKeyImport): void {
  t.test(`${name}: Ed25519 RFC 8032 test 1`, async (t) => {
    const key = importKey('Ed25519', ED25519.secret);
    t.equal(publicKeyOf(key), ED25519.publicKey);
    t.equal(exportedPublicKeyOf(key), ED25519.publicKey, 'the JWK export holds the key derived at import');
    t.equal(sign(null, Buffer.alloc(0), key).toString('hex'), ED25519.signatureOfEmpty);
  });
  t.test(`${name}: X25519 RFC 7748 Alice`, async (t) => {
    const key = importKey('X25519', X25519.secret);
    t.equal(publicKeyOf(key), X25519.publicKey);
    t.equal(exportedPublicKeyOf(key), X25519.publicKey, 'the JWK export holds the key derived at import');
    const peer = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: hex(X25519.peerPublicKey).toString('base64url') }, format: 'jwk' });
    const shared = Buffer.from(x25519.getSharedSecret(X25519.secret, hex(X25519.peerPublicKey))).toString('hex');
    t.equal(diffieHellman({ privateKey: key, publicKey: peer }).toString('hex'), shared);
  });
}

checkImport(t, 'PKCS#8 import', fromPkcs8);
t.test('the key pairs made with the import this Node takes carry the RFC public keys', async (t) => {
  t.equal(Buffer.from(ed25519FromSeed(ED25519.secret).publicKey).toString('hex'), ED25519.publicKey);
  t.equal(Buffer.from(ephemeralFromSecret(X25519.secret).publicKey).toString('hex'), X25519.publicKey);
});
if (jwkSecretImportWorks()) checkImport(t, 'JWK import', fromJwkSecret);
else {
  t.test('a Node that refuses the JWK secret import refuses it for both curves', async (t) => {
    t.throws(() => fromJwkSecret('Ed25519', ED25519.secret));
    t.throws(() => fromJwkSecret('X25519', X25519.secret));
  });
}
