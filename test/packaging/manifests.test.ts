import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import t, { type Test } from 'tap';
import { verifyBinary } from '../../permissions/host/binary-signature';
import { checkInstallableManifest, type BinaryEntry } from '../../permissions/host/manifest-rules';
import { signBinary } from '../../packaging/binary-signing';
import {
  fileUrl,
  installFromFileManifest,
  packagedManifest,
  readSourceManifest,
  releaseManifest,
  releaseUrl,
  serializeManifest,
  type SourceManifest,
  type TargetExecutable,
} from '../../packaging/manifests';
import { PackagingError } from '../../packaging/errors';
import { createSigningKeyFile, type SigningKey } from '../../packaging/signing-key';
import { tempDir } from '../helpers/extension';

const REPOSITORY = join(__dirname, '..', '..');
const SOURCE = readSourceManifest(join(REPOSITORY, 'manifest.json'));
const BASE_URL = 'https://github.com/example/p2p-comm/releases/download/v0.1.0';

function refusedWith(code: PackagingError['code']) {
  return { name: 'PackagingError', code };
}

function throwawayKey(t: Test): SigningKey {
  return createSigningKeyFile(join(tempDir(t), 'key.pem'), REPOSITORY);
}

/** What a release holds: one executable per built platform; Apple silicon runs the x86_64 one. */
function releaseExecutables(): TargetExecutable[] {
  const darwin = randomBytes(3000);
  return [
    { target: 'x86_64-unknown-linux-gnu', bytes: randomBytes(3000), fileName: 'p2p-comm-x86_64-unknown-linux-gnu' },
    { target: 'aarch64-unknown-linux-gnu', bytes: randomBytes(3000), fileName: 'p2p-comm-aarch64-unknown-linux-gnu' },
    { target: 'x86_64-apple-darwin', bytes: darwin, fileName: 'p2p-comm-x86_64-apple-darwin' },
    { target: 'aarch64-apple-darwin', bytes: darwin, fileName: 'p2p-comm-x86_64-apple-darwin' },
    { target: 'x86_64-pc-windows-msvc', bytes: randomBytes(3000), fileName: 'p2p-comm-x86_64-pc-windows-msvc.exe' },
  ];
}

function binariesOf(manifest: Record<string, unknown>): Record<string, BinaryEntry> {
  return manifest['binaries'] as Record<string, BinaryEntry>;
}

/** Everything but what packaging sets, in manifest.json's key order. */
function unpackaged(manifest: Record<string, unknown>): Record<string, unknown> {
  const { binaries: _binaries, author_public_key: _key, ...rest } = manifest;
  return rest;
}

/** As Nexus's install_local finds the binary: `file://` stripped, a relative path taken from the manifest's folder. */
function nexusLocalBinaryPath(manifestPath: string, url: string): string {
  return join(dirname(manifestPath), url.slice('file://'.length));
}

t.test('the Install from File manifest: one target, its executable beside it, valid and verifying', async (t) => {
  const key = throwawayKey(t);
  const folder = join(tempDir(t), 'x86_64-pc-windows-msvc');
  mkdirSync(folder);
  const bytes = randomBytes(5000);
  writeFileSync(join(folder, 'extension.exe'), bytes);
  const manifest = installFromFileManifest(SOURCE, [{ target: 'x86_64-pc-windows-msvc', bytes, fileName: 'extension.exe' }], key);
  const manifestPath = join(folder, 'manifest.json');
  writeFileSync(manifestPath, serializeManifest(manifest));

  const written = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
  t.same(written, manifest, 'serialized as it is');
  t.equal(checkInstallableManifest(written), null, "passes Nexus's validate");
  t.same(Object.keys(binariesOf(written)), ['x86_64-pc-windows-msvc']);
  const entry = binariesOf(written)['x86_64-pc-windows-msvc'] as BinaryEntry;
  t.equal(entry.url, 'file://extension.exe');
  const installed = readFileSync(nexusLocalBinaryPath(manifestPath, entry.url));
  t.same(installed, bytes, 'the url names the executable beside the manifest');
  t.equal(verifyBinary(installed, entry, written['author_public_key'] as string), null);
  t.equal(written['author_public_key'], key.publicKey);
});

t.test('a packaged manifest agrees with manifest.json in everything but binaries and author_public_key', async (t) => {
  const key = throwawayKey(t);
  const local = installFromFileManifest(SOURCE, [{ target: 'x86_64-unknown-linux-gnu', bytes: randomBytes(10), fileName: 'extension' }], key);
  const release = releaseManifest({ ...SOURCE, author_public_key: key.publicKey }, releaseExecutables(), BASE_URL, key);
  for (const manifest of [local, release]) {
    t.same(unpackaged(manifest), unpackaged(SOURCE as Record<string, unknown>));
    t.same(Object.keys(manifest), Object.keys(SOURCE), 'in the same key order');
  }
});

t.test('the release manifest: every target, https urls under the base url, each verifying', async (t) => {
  const key = throwawayKey(t);
  const executables = releaseExecutables();
  const manifest = releaseManifest({ ...SOURCE, author_public_key: key.publicKey }, executables, BASE_URL, key);
  t.equal(checkInstallableManifest(manifest), null, "passes Nexus's validate");
  const binaries = binariesOf(manifest);
  t.same(Object.keys(binaries), [
    'x86_64-unknown-linux-gnu',
    'aarch64-unknown-linux-gnu',
    'x86_64-apple-darwin',
    'aarch64-apple-darwin',
    'x86_64-pc-windows-msvc',
  ]);
  for (const { target, bytes, fileName } of executables) {
    const entry = binaries[target] as BinaryEntry;
    t.equal(entry.url, `${BASE_URL}/${fileName}`, `${target}: url`);
    t.equal(verifyBinary(bytes, entry, key.publicKey), null, `${target}: verifies as Nexus verifies`);
    const digest = sha256(bytes);
    t.equal(entry.sha256, Buffer.from(digest).toString('hex'), `${target}: lowercase hex digest`);
    const signature = Buffer.from(entry.signature, 'base64');
    t.ok(ed25519.verify(signature, digest, Buffer.from(key.publicKey, 'base64')), `${target}: @noble/curves verifies it over the raw digest`);
  }
  t.same(binaries['aarch64-apple-darwin'], binaries['x86_64-apple-darwin'], 'Apple silicon gets the x86_64 executable');
});

t.test("a changed byte, a hex-string signature or a wrong key fail verification with Nexus's message", async (t) => {
  const key = throwawayKey(t);
  const bytes = randomBytes(2000);
  const manifest = installFromFileManifest(SOURCE, [{ target: 'x86_64-unknown-linux-gnu', bytes, fileName: 'extension' }], key);
  const entry = binariesOf(manifest)['x86_64-unknown-linux-gnu'] as BinaryEntry;

  const changed = Buffer.from(bytes);
  changed[0] = (changed[0] as number) ^ 0x80;
  t.equal(
    verifyBinary(changed, entry, key.publicKey),
    `Signature verification failed: SHA-256 mismatch: expected ${entry.sha256}, got ${Buffer.from(sha256(changed)).toString('hex')}`,
  );
  const overHexString = signBinary(Buffer.from(entry.sha256, 'utf8'), key).signature;
  t.notOk(ed25519.verify(Buffer.from(overHexString, 'base64'), sha256(bytes), Buffer.from(key.publicKey, 'base64')));
  t.equal(verifyBinary(bytes, { ...entry, signature: overHexString }, key.publicKey), 'Signature verification failed: Ed25519 signature verification failed');
  const hexEncoded = Buffer.from(entry.signature, 'base64').toString('hex');
  t.equal(verifyBinary(bytes, { ...entry, signature: hexEncoded }, key.publicKey), 'Signature verification failed: Signature must be exactly 64 bytes');
  const other = throwawayKey(t);
  t.equal(verifyBinary(bytes, entry, other.publicKey), 'Signature verification failed: Ed25519 signature verification failed');
});

t.test('a release is signed only by the key manifest.json names', async (t) => {
  const developmentKey = throwawayKey(t);
  const error = t.throws(() => releaseManifest(SOURCE, releaseExecutables(), BASE_URL, developmentKey)) as PackagingError;
  t.equal(error.code, 'key_not_release_key');
  t.match(error.message, `manifest.json's author_public_key is ${String(SOURCE['author_public_key'])}`);
});

t.test('a manifest Nexus would refuse is never produced', async (t) => {
  const key = throwawayKey(t);
  const error = t.throws(() => packagedManifest(SOURCE, {}, key)) as PackagingError;
  t.equal(error.code, 'invalid_manifest');
  t.equal(error.message, 'Nexus would refuse the packaged manifest: Invalid manifest: at least one binary platform entry is required');
  const broken: SourceManifest = { ...SOURCE, id: 'P2P' };
  t.throws(
    () => installFromFileManifest(broken, [{ target: 'x86_64-unknown-linux-gnu', bytes: randomBytes(1), fileName: 'extension' }], key),
    { code: 'invalid_manifest', message: /id must contain only lowercase letters/ },
  );
  const twice: TargetExecutable[] = [
    { target: 'x86_64-unknown-linux-gnu', bytes: randomBytes(1), fileName: 'a' },
    { target: 'x86_64-unknown-linux-gnu', bytes: randomBytes(1), fileName: 'b' },
  ];
  t.throws(() => installFromFileManifest(SOURCE, twice, key), refusedWith('duplicate_target'));
});

t.test('file urls: a relative path with / as Nexus reads it; release urls: https only', async (t) => {
  t.equal(fileUrl('extension'), 'file://extension');
  t.equal(fileUrl('x86_64-apple-darwin/extension'), 'file://x86_64-apple-darwin/extension');
  for (const refused of ['', '/opt/p2p-comm/extension', 'C:\\p2p\\extension.exe', 'bin\\extension.exe']) {
    t.throws(() => fileUrl(refused), refusedWith('invalid_url'), `'${refused}'`);
  }
  t.equal(releaseUrl(`${BASE_URL}/`, 'a b.exe'), `${BASE_URL}/a%20b.exe`, 'a trailing / is the same base; names are encoded');
  t.equal(releaseUrl(BASE_URL, 'p2p-comm'), `${BASE_URL}/p2p-comm`);
  for (const refused of ['http://example.com/releases', 'example.com/releases', 'file:///tmp/', 'https://example.com/r?tag=1']) {
    t.throws(() => releaseUrl(refused, 'p2p-comm'), refusedWith('invalid_url'), refused);
  }
});

t.test('readSourceManifest refuses what is not a JSON object', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'broken.json'), '{');
  writeFileSync(join(dir, 'list.json'), '[]');
  t.throws(() => readSourceManifest(join(dir, 'broken.json')), refusedWith('invalid_manifest'));
  t.throws(() => readSourceManifest(join(dir, 'list.json')), refusedWith('invalid_manifest'));
});

t.test('signBinary: lowercase hex digest and a base64 signature over the raw digest', async (t) => {
  const key = throwawayKey(t);
  const bytes = randomBytes(100);
  const { sha256: hex, signature } = signBinary(bytes, key);
  t.match(hex, /^[0-9a-f]{64}$/);
  t.equal(Buffer.from(signature, 'base64').length, 64);
  t.ok(ed25519.verify(Buffer.from(signature, 'base64'), sha256(bytes), Buffer.from(key.publicKey, 'base64')));
});

