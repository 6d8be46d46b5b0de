import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import t from 'tap';
import { decodeStandardBase64, verifyBinary } from '../../../permissions/host/binary-signature';
import { WEAK_KEYS } from '../../helpers/weak-keys';

/** A signer independent of the code under test: @noble/curves and @noble/hashes. */
function throwawaySigner() {
  const secretKey = ed25519.utils.randomSecretKey();
  return {
    publicKey: Buffer.from(ed25519.getPublicKey(secretKey)).toString('base64'),
    sign: (message: Uint8Array) => ed25519.sign(message, secretKey),
  };
}

const BINARY = randomBytes(4096);
const DIGEST = sha256(BINARY);
const DIGEST_HEX = Buffer.from(DIGEST).toString('hex');
const FAILED = 'Signature verification failed: ';

t.test('accepts a signature over the raw 32-byte digest and the lowercase hex digest', async (t) => {
  const signer = throwawaySigner();
  const entry = { sha256: DIGEST_HEX, signature: Buffer.from(signer.sign(DIGEST)).toString('base64') };
  t.equal(verifyBinary(BINARY, entry, signer.publicKey), null);
});

t.test('refuses a changed byte of the binary by its digest', async (t) => {
  const signer = throwawaySigner();
  const entry = { sha256: DIGEST_HEX, signature: Buffer.from(signer.sign(DIGEST)).toString('base64') };
  const changed = Buffer.from(BINARY);
  changed[2048] = (changed[2048] as number) ^ 1;
  const changedHex = Buffer.from(sha256(changed)).toString('hex');
  t.equal(verifyBinary(changed, entry, signer.publicKey), `${FAILED}SHA-256 mismatch: expected ${DIGEST_HEX}, got ${changedHex}`);
});

t.test('refuses an uppercase digest: Nexus compares the strings exactly', async (t) => {
  const signer = throwawaySigner();
  const entry = { sha256: DIGEST_HEX.toUpperCase(), signature: Buffer.from(signer.sign(DIGEST)).toString('base64') };
  t.match(verifyBinary(BINARY, entry, signer.publicKey), /^Signature verification failed: SHA-256 mismatch/);
});

t.test('refuses a signature over the hex string of the digest', async (t) => {
  const signer = throwawaySigner();
  const overHex = signer.sign(Buffer.from(DIGEST_HEX, 'utf8'));
  const entry = { sha256: DIGEST_HEX, signature: Buffer.from(overHex).toString('base64') };
  t.equal(verifyBinary(BINARY, entry, signer.publicKey), `${FAILED}Ed25519 signature verification failed`);
});

t.test('refuses a hex-encoded signature: it decodes as base64 to 96 bytes', async (t) => {
  const signer = throwawaySigner();
  const entry = { sha256: DIGEST_HEX, signature: Buffer.from(signer.sign(DIGEST)).toString('hex') };
  t.equal(verifyBinary(BINARY, entry, signer.publicKey), `${FAILED}Signature must be exactly 64 bytes`);
});

t.test('refuses a signature wrapped over lines, as the base64 tool prints it', async (t) => {
  const signer = throwawaySigner();
  const encoded = Buffer.from(signer.sign(DIGEST)).toString('base64');
  const entry = { sha256: DIGEST_HEX, signature: `${encoded.slice(0, 76)}\n${encoded.slice(76)}` };
  t.equal(verifyBinary(BINARY, entry, signer.publicKey), `${FAILED}Invalid signature base64: Invalid symbol 10, offset 76.`);
});

t.test('refuses a signature by another key', async (t) => {
  const signer = throwawaySigner();
  const other = throwawaySigner();
  const entry = { sha256: DIGEST_HEX, signature: Buffer.from(other.sign(DIGEST)).toString('base64') };
  t.equal(verifyBinary(BINARY, entry, signer.publicKey), `${FAILED}Ed25519 signature verification failed`);
});

t.test('refuses an author key that is not 32 bytes of strict base64 on the curve', async (t) => {
  const signer = throwawaySigner();
  const entry = { sha256: DIGEST_HEX, signature: Buffer.from(signer.sign(DIGEST)).toString('base64') };
  t.equal(verifyBinary(BINARY, entry, signer.publicKey.replace(/=$/, '')), `${FAILED}Invalid public key base64: Invalid padding`);
  t.equal(verifyBinary(BINARY, entry, `-${signer.publicKey.slice(1)}`), `${FAILED}Invalid public key base64: Invalid symbol 45, offset 0.`);
  t.equal(verifyBinary(BINARY, entry, randomBytes(31).toString('base64')), `${FAILED}Public key must be exactly 32 bytes`);
  t.equal(
    verifyBinary(BINARY, entry, Buffer.from(WEAK_KEYS.not_on_curve).toString('base64')),
    `${FAILED}Invalid Ed25519 public key: the key is not a point of the Ed25519 curve`,
  );
});

t.test('strict base64 decodes what Node encodes, and refuses what Nexus refuses', async (t) => {
  for (let length = 0; length <= 66; length++) {
    const bytes = randomBytes(length);
    t.same(decodeStandardBase64(bytes.toString('base64')), bytes, `${length} bytes round-trip`);
  }
  t.equal(decodeStandardBase64('QQ'), 'Invalid padding', 'padding is required');
  t.equal(decodeStandardBase64('QQ==='), 'Invalid padding', 'and no more than needed');
  t.equal(decodeStandardBase64('QR=='), 'Invalid last symbol 82, offset 1.', 'unused bits must be zero');
  t.equal(decodeStandardBase64('Q Q=='), 'Invalid symbol 32, offset 1.', 'no whitespace');
  t.equal(decodeStandardBase64('Q=Q='), 'Invalid symbol 61, offset 1.', "'=' only at the end");
  t.equal(decodeStandardBase64('QQ_-'), 'Invalid symbol 95, offset 2.', 'not the url-safe alphabet');
});
