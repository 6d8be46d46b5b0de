import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import t from 'tap';
import { PackagingError } from '../../packaging/errors';
import { createSigningKeyFile, developmentKeyPath, loadSigningKey, type SigningKey } from '../../packaging/signing-key';
import { tempDir } from '../helpers/extension';

const REPOSITORY = join(__dirname, '..', '..');

function refusedWith(code: PackagingError['code']) {
  return { name: 'PackagingError', code };
}

/** The public key @noble/curves derives from the key's secret: independent of the code under test. */
function noblePublicKey(key: SigningKey): string {
  const { d } = key.privateKey.export({ format: 'jwk' });
  return Buffer.from(ed25519.getPublicKey(Buffer.from(d as string, 'base64url'))).toString('base64');
}

t.test('without a key file, a development key is created once under XDG_CONFIG_HOME, mode 0600', async (t) => {
  const config = tempDir(t);
  const env = { XDG_CONFIG_HOME: config };
  const first = loadSigningKey({ repositoryDir: REPOSITORY, env });
  const path = join(config, 'p2p-comm', 'dev-signing-key.pem');
  t.equal(first.path, path);
  t.equal(first.kind, 'development');
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.equal(statSync(join(config, 'p2p-comm')).mode & 0o777, 0o700);
  t.match(readFileSync(path, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
  t.equal(first.publicKey, noblePublicKey(first), 'the public half is the raw 32-byte key in base64');
  t.equal(Buffer.from(first.publicKey, 'base64').length, 32);
  const second = loadSigningKey({ repositoryDir: REPOSITORY, env });
  t.equal(second.publicKey, first.publicKey, 'the same key signs every later run');
});

t.test('the development key lives under ~/.config when XDG_CONFIG_HOME is unset or relative', async (t) => {
  const expected = join(homedir(), '.config', 'p2p-comm', 'dev-signing-key.pem');
  t.equal(developmentKeyPath({}), expected);
  t.equal(developmentKeyPath({ XDG_CONFIG_HOME: 'relative/config' }), expected);
  t.equal(developmentKeyPath({ XDG_CONFIG_HOME: '/elsewhere' }), join('/elsewhere', 'p2p-comm', 'dev-signing-key.pem'));
});

t.test('a release key file is created with mode 0600 and loaded with --key', async (t) => {
  const path = join(tempDir(t), 'release.pem');
  const created = createSigningKeyFile(path, REPOSITORY);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.equal(created.kind, 'release');
  const loaded = loadSigningKey({ keyFile: path, repositoryDir: REPOSITORY, env: { XDG_CONFIG_HOME: tempDir(t) } });
  t.equal(loaded.kind, 'release');
  t.equal(loaded.publicKey, created.publicKey);
  t.equal(loaded.publicKey, noblePublicKey(loaded));
});

t.test('a key file made by other tools in the same format (PKCS#8 PEM) loads', async (t) => {
  const path = join(tempDir(t), 'openssl.pem');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const loaded = loadSigningKey({ keyFile: path, repositoryDir: REPOSITORY });
  const { x } = publicKey.export({ format: 'jwk' });
  t.equal(loaded.publicKey, Buffer.from(x as string, 'base64url').toString('base64'));
});

t.test('an existing file is never overwritten by a new key', async (t) => {
  const path = join(tempDir(t), 'release.pem');
  const first = createSigningKeyFile(path, REPOSITORY);
  t.throws(() => createSigningKeyFile(path, REPOSITORY), refusedWith('key_exists'));
  t.equal(loadSigningKey({ keyFile: path, repositoryDir: REPOSITORY }).publicKey, first.publicKey);
});

t.test('a key file inside the repository is refused, however it is named', async (t) => {
  const repository = tempDir(t);
  const outside = tempDir(t);
  t.throws(() => createSigningKeyFile(join(repository, 'release.pem'), repository), refusedWith('key_in_repository'));
  t.notOk(existsSync(join(repository, 'release.pem')), 'nothing was written');
  t.throws(() => createSigningKeyFile(join(repository, 'keys', 'deep', 'release.pem'), repository), refusedWith('key_in_repository'));

  const inside = join(repository, 'release.pem');
  writeFileSync(inside, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  t.throws(() => loadSigningKey({ keyFile: inside, repositoryDir: repository }), refusedWith('key_in_repository'));
  const repositoryLink = join(outside, 'repository');
  symlinkSync(repository, repositoryLink);
  t.throws(() => loadSigningKey({ keyFile: inside, repositoryDir: repositoryLink }), refusedWith('key_in_repository'), 'the repository named through a link');
  const link = join(outside, 'link.pem');
  symlinkSync(inside, link);
  t.throws(() => loadSigningKey({ keyFile: link, repositoryDir: repository }), refusedWith('key_in_repository'), 'through a symbolic link');
});

t.test("a key file in this repository's own folder is refused before it is read", async (t) => {
  const error = t.throws(() => loadSigningKey({ keyFile: join(REPOSITORY, 'release-key.pem'), repositoryDir: REPOSITORY })) as PackagingError;
  t.equal(error.code, 'key_in_repository');
  t.match(error.message, /is inside the repository .*: keep signing keys outside it, so that no commit can carry one/);
});

t.test('a development key folder inside the repository is refused and nothing is created', async (t) => {
  const repository = tempDir(t);
  t.throws(() => loadSigningKey({ repositoryDir: repository, env: { XDG_CONFIG_HOME: join(repository, 'config') } }), refusedWith('key_in_repository'));
  t.notOk(existsSync(join(repository, 'config')));
});

t.test('a key file others can read or write is refused, with the command that fixes it', async (t) => {
  const path = join(tempDir(t), 'release.pem');
  createSigningKeyFile(path, REPOSITORY);
  chmodSync(path, 0o644);
  const error = t.throws(() => loadSigningKey({ keyFile: path, repositoryDir: REPOSITORY })) as PackagingError;
  t.equal(error.code, 'key_exposed');
  t.match(error.message, `(mode 0644): run chmod 600 ${path}`);
  chmodSync(path, 0o620);
  t.throws(() => loadSigningKey({ keyFile: path, repositoryDir: REPOSITORY }), refusedWith('key_exposed'));
});

t.test('a missing file, a file that is no key and a key of another type are refused', async (t) => {
  const dir = tempDir(t);
  t.throws(() => loadSigningKey({ keyFile: join(dir, 'missing.pem'), repositoryDir: REPOSITORY }), refusedWith('key_unreadable'));
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a key', { mode: 0o600 });
  t.throws(() => loadSigningKey({ keyFile: garbage, repositoryDir: REPOSITORY }), refusedWith('key_not_ed25519'));
  const ecKey = join(dir, 'ec.pem');
  writeFileSync(ecKey, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const error = t.throws(() => loadSigningKey({ keyFile: ecKey, repositoryDir: REPOSITORY })) as PackagingError;
  t.equal(error.code, 'key_not_ed25519');
  t.match(error.message, 'holds a ec key; packages are signed with Ed25519');
});
