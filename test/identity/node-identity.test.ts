import { createPublicKey, verify } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { throwawayIdentity } from '../helpers/raw-peer';
import t from 'tap';
import { IDENTITY_FILE_NAME, loadOrCreateIdentity } from '../../extension/identity/node-identity';
import { fingerprintOf, peerIdFromPublicKey } from '../../extension/common/peer-id';
import { tempDir } from '../helpers/extension';
import { dhtPublicKeyOf } from '../../extension/wire/dht-key-binding';

// RFC 8032, section 7.1, test 1.
const RFC8032_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const RFC8032_PUBLIC_KEY = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const RFC8032_EMPTY_MESSAGE_SIGNATURE =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

function keyFile(fields: Record<string, unknown>): string {
  return JSON.stringify({
    version: 1,
    type: 'ed25519',
    seed: Buffer.from(RFC8032_SEED, 'hex').toString('base64'),
    public_key: Buffer.from(RFC8032_PUBLIC_KEY, 'hex').toString('base64'),
    created_at: '2025-01-01T00:00:00.000Z',
    ...fields,
  });
}

t.test('creates the key once and loads the same identity afterwards', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, IDENTITY_FILE_NAME);
  const created = loadOrCreateIdentity(dir);
  t.equal(statSync(path).mode & 0o777, 0o600);
  const written = readFileSync(path);
  const file = JSON.parse(written.toString('utf8')) as Record<string, unknown>;
  t.equal(file['version'], 1);
  t.equal(file['type'], 'ed25519');
  t.equal(Buffer.from(String(file['seed']), 'base64').length, 32);
  t.same(new Uint8Array(Buffer.from(String(file['public_key']), 'base64')), created.publicKey);
  t.match(file['created_at'], /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  t.equal(created.peerId, peerIdFromPublicKey(created.publicKey));
  t.equal(created.fingerprint, fingerprintOf(created.publicKey));

  const loaded = loadOrCreateIdentity(dir);
  t.equal(loaded.peerId, created.peerId);
  t.same(loaded.publicKey, created.publicKey);
  t.same(readFileSync(path), written, 'loading does not rewrite the file');
});

t.test('signatures verify with node:crypto and with @noble/curves', async (t) => {
  const identity = loadOrCreateIdentity(tempDir(t));
  const message = new TextEncoder().encode('hello from p2p-comm');
  const signature = identity.sign(message);
  const publicKey = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(identity.publicKey).toString('base64url') },
    format: 'jwk',
  });
  t.ok(verify(null, message, publicKey, signature));
  t.ok(ed25519.verify(signature, message, identity.publicKey));
  t.notOk(ed25519.verify(signature, new TextEncoder().encode('hello from p2p-comm!'), identity.publicKey));
});

t.test('an existing key file is used as it is (RFC 8032 test vector)', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, IDENTITY_FILE_NAME), keyFile({}), { mode: 0o600 });
  const identity = loadOrCreateIdentity(dir);
  t.equal(Buffer.from(identity.publicKey).toString('hex'), RFC8032_PUBLIC_KEY);
  t.equal(Buffer.from(identity.sign(new Uint8Array(0))).toString('hex'), RFC8032_EMPTY_MESSAGE_SIGNATURE);
});

t.test('a key file other users can access stops the start with the chmod to run', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, IDENTITY_FILE_NAME);
  loadOrCreateIdentity(dir);
  const before = readFileSync(path);
  for (const mode of [0o644, 0o640, 0o604, 0o620]) {
    chmodSync(path, mode);
    const octal = `0${mode.toString(8)}`;
    t.throws(() => loadOrCreateIdentity(dir), {
      errorName: 'IDENTITY_UNUSABLE',
      message: `the identity key ${path} is accessible to other users (mode ${octal}); run \`chmod 600 ${path}\` and start again`,
    });
    t.equal(statSync(path).mode & 0o777, mode, 'the mode is left for the user to fix');
  }
  t.same(readFileSync(path), before);
});

t.test('a damaged key file stops the start, names the problem, and is left untouched', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, IDENTITY_FILE_NAME);
  const otherKey = Buffer.from(throwawayIdentity().publicKey).toString('base64url');
  const cases: [string, RegExp][] = [
    ['{"version":1,', /it is not valid JSON/],
    ['[1]', /it is not a JSON object/],
    [keyFile({ version: 3 }), /its version is 3, expected 1 or 2/],
    [keyFile({ version: undefined }), /its version is undefined, expected 1 or 2/],
    [keyFile({ type: 'x25519' }), /its type is "x25519", expected "ed25519"/],
    [keyFile({ seed: Buffer.alloc(31).toString('base64') }), /its seed is not 32 bytes in base64/],
    [keyFile({ seed: `${Buffer.from(RFC8032_SEED, 'hex').toString('base64')}!` }), /its seed is not 32 bytes in base64/],
    [keyFile({ seed: 42 }), /its seed is not 32 bytes in base64/],
    [keyFile({ public_key: Buffer.alloc(33).toString('base64') }), /its public_key is not 32 bytes in base64/],
    [keyFile({ public_key: Buffer.from(otherKey, 'base64url').toString('base64') }), /its public_key does not belong to its seed/],
  ];
  for (const [content, reason] of cases) {
    writeFileSync(path, content, { mode: 0o600 });
    t.throws(() => loadOrCreateIdentity(dir), { name: 'P2pError', errorName: 'IDENTITY_UNUSABLE', message: reason }, reason.source);
    t.throws(() => loadOrCreateIdentity(dir), {
      message: new RegExp(
        `^the identity key ${path} is unusable: .*\\. Restore it from a backup, or move it away to create a new identity \\(paired peers will then have to pair again\\)$`,
      ),
    });
    t.equal(readFileSync(path, 'utf8'), content, 'the file is not modified');
  }
});

t.test('a data directory that cannot hold the key is reported', async (t) => {
  const dir = join(tempDir(t), 'missing');
  t.throws(() => loadOrCreateIdentity(dir), {
    errorName: 'IDENTITY_UNUSABLE',
    message: /^cannot create the identity key .*missing\/identity\.key: .*check that the data directory exists and is writable$/,
  });
});

t.test('the DHT seed is HKDF-SHA256 of the identity seed under a fixed label, stable across loads', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, IDENTITY_FILE_NAME), keyFile({}), { mode: 0o600 });
  const identity = loadOrCreateIdentity(dir);
  const seed = Buffer.from(RFC8032_SEED, 'hex');
  // Computed independently: @noble/hashes, empty salt (RFC 5869: HashLen zero bytes), the label as info.
  const expected = hkdf(sha256, seed, new Uint8Array(0), new TextEncoder().encode('p2p-comm dht key pair v1'), 32);
  t.same(identity.dhtSeed, expected, 'HKDF with the fixed label');
  t.same(loadOrCreateIdentity(dir).dhtSeed, expected, 'the same after loading again');
  t.equal(identity.dhtSeed.length, 32);
  t.notSame(identity.dhtSeed, new Uint8Array(seed), 'not the identity seed');
  t.notSame(identity.dhtSeed, identity.publicKey, 'not the identity public key');
  t.notSame(dhtPublicKeyOf(identity.dhtSeed), identity.publicKey, 'the DHT key pair is not the identity key pair');
});

t.test('a created identity keeps its DHT seed across loads, and two identities have different ones', async (t) => {
  const dir = tempDir(t);
  const created = loadOrCreateIdentity(dir);
  const file = JSON.parse(readFileSync(join(dir, IDENTITY_FILE_NAME), 'utf8')) as { seed: string };
  const seed = Buffer.from(file.seed, 'base64');
  t.same(created.dhtSeed, hkdf(sha256, seed, new Uint8Array(0), new TextEncoder().encode('p2p-comm dht key pair v1'), 32), 'derived from the stored seed');
  t.same(loadOrCreateIdentity(dir).dhtSeed, created.dhtSeed, 'the same DHT seed after a reload');
  t.notSame(loadOrCreateIdentity(tempDir(t)).dhtSeed, created.dhtSeed, 'another identity, another DHT seed');
});
