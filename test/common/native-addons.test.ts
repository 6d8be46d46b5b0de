import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { P2pError } from '../../extension/common/errors';
import { loadEmbeddedAddon, thisPlatform, useNativeAddonDirectory, writeVerifiedAddon, type EmbeddedAddon } from '../../extension/common/native-addons';
import { tempDir } from '../helpers/extension';

/*
 * The loader with the real sodium-native prebuild of this machine, as a
 * bundle embeds it, and with bytes that are damaged on the way.
 */

const PREBUILD = readFileSync(join(__dirname, '..', '..', 'node_modules', 'sodium-native', 'prebuilds', thisPlatform(), 'sodium-native.node'));
const PREBUILD_SHA256 = sha256(PREBUILD);

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The prebuild as the bundler embeds it; counts how often its bytes are asked for. */
function embedded(overrides: Partial<EmbeddedAddon> = {}): EmbeddedAddon & { reads: number } {
  const bytes = overrides.bytes ?? (() => PREBUILD);
  const addon = {
    name: 'sodium-native',
    platform: thisPlatform(),
    sha256: PREBUILD_SHA256,
    ...overrides,
    reads: 0,
    bytes: () => {
      addon.reads += 1;
      return bytes();
    },
  };
  return addon;
}

function fileOf(directory: string): string {
  return join(directory, `sodium-native-${PREBUILD_SHA256.slice(0, 16)}.node`);
}

function reasonOf(error: unknown): unknown {
  return error instanceof P2pError ? (error.details as { reason?: unknown }).reason : undefined;
}

// First: the directory is process-wide, and no test has named one yet.
t.test('an addon required before a directory was named is refused as an internal error', async (t) => {
  t.throws(() => loadEmbeddedAddon([embedded()]), { name: 'P2pError', errorName: 'INTERNAL_ERROR', message: /sodium-native was required before useNativeAddonDirectory/ });
});

t.test('the addon is written as <name>-<hash>.node, 0600 in a 0700 directory, and loaded from there', async (t) => {
  const directory = join(tempDir(t), 'native');
  const previousUmask = process.umask(0);
  t.teardown(() => process.umask(previousUmask));
  useNativeAddonDirectory(directory);
  const binding = loadEmbeddedAddon([embedded({ platform: 'win32-x64' }), embedded()]) as { randombytes_buf?: unknown };
  t.equal(typeof binding.randombytes_buf, 'function', 'the exports of the loaded addon');
  t.same(readdirSync(directory), [`sodium-native-${PREBUILD_SHA256.slice(0, 16)}.node`], 'one file, no temp file left');
  t.equal(sha256(readFileSync(fileOf(directory))), PREBUILD_SHA256);
  t.equal(statSync(fileOf(directory)).mode & 0o777, 0o600);
  t.equal(statSync(directory).mode & 0o777, 0o700);
});

t.test('a directory others may write to is narrowed to 0700 before anything in it is loaded', async (t) => {
  const directory = join(tempDir(t), 'native');
  mkdirSync(directory, { mode: 0o777 });
  chmodSync(directory, 0o777);
  writeVerifiedAddon(embedded(), directory);
  t.equal(statSync(directory).mode & 0o777, 0o700);
});

t.test('a file that already matches its hash is kept, and the embedded bytes are not even read', async (t) => {
  const directory = tempDir(t);
  writeVerifiedAddon(embedded(), directory);
  const before = statSync(fileOf(directory));
  const addon = embedded();
  t.equal(writeVerifiedAddon(addon, directory), fileOf(directory));
  t.equal(addon.reads, 0);
  t.equal(statSync(fileOf(directory)).ino, before.ino, 'the same file, not a rewritten one');
});

t.test('a file altered after it was written is replaced before it is loaded', async (t) => {
  const directory = tempDir(t);
  const tampered = Buffer.from(PREBUILD);
  tampered.writeUInt8(tampered.readUInt8(tampered.length >> 1) ^ 0x01, tampered.length >> 1);
  for (const [what, content] of [
    ['one byte changed', tampered],
    ['truncated', PREBUILD.subarray(0, 4096)],
    ['empty', Buffer.alloc(0)],
  ] as const) {
    writeFileSync(fileOf(directory), content);
    const addon = embedded();
    t.equal(writeVerifiedAddon(addon, directory), fileOf(directory), what);
    t.equal(addon.reads, 1, `${what}: rewritten from the embedded bytes`);
    t.equal(sha256(readFileSync(fileOf(directory))), PREBUILD_SHA256, `${what}: the file holds the recorded bytes again`);
    t.equal(statSync(fileOf(directory)).mode & 0o777, 0o600, `${what}: with its mode`);
  }
});

t.test('damaged embedded bytes are refused, and nothing is written', async (t) => {
  const directory = tempDir(t);
  const damaged = Buffer.from(PREBUILD);
  damaged.writeUInt8(damaged.readUInt8(0) ^ 0xff, 0);
  const error = t.throws(() => writeVerifiedAddon(embedded({ bytes: () => damaged }), directory), {
    name: 'P2pError',
    errorName: 'NATIVE_ADDON_UNUSABLE',
    message: new RegExp(`the copy of sodium-native inside this build of p2p-comm has SHA-256 ${sha256(damaged)}, not the ${PREBUILD_SHA256} recorded when it was built: the file is damaged, install it again`),
  });
  t.equal(reasonOf(error), 'hash_mismatch');
  t.same(readdirSync(directory), []);
});

t.test('a build without the addon for this platform says which platforms it has', async (t) => {
  useNativeAddonDirectory(tempDir(t));
  const error = t.throws(() => loadEmbeddedAddon([embedded({ platform: 'win32-x64' }), embedded({ platform: 'darwin-x64' })]), {
    name: 'P2pError',
    errorName: 'NATIVE_ADDON_UNUSABLE',
    message: `this build of p2p-comm carries sodium-native for win32-x64, darwin-x64, not for ${thisPlatform()}: use the one made for ${thisPlatform()} (its single-file executable, or npm run build on that machine)`,
  });
  t.equal(reasonOf(error), 'no_build_for_platform');
});

t.test('a directory that cannot be made is refused, naming it', async (t) => {
  const file = join(tempDir(t), 'a-file');
  writeFileSync(file, '');
  const directory = join(file, 'native');
  const error = t.throws(() => writeVerifiedAddon(embedded(), directory), {
    name: 'P2pError',
    errorName: 'NATIVE_ADDON_UNUSABLE',
    message: new RegExp(`^cannot write sodium-native to ${directory}: .*ENOTDIR.*; make the directory writable by this user, or free some space$`),
  });
  t.equal(reasonOf(error), 'directory_unwritable');
});

t.test('a file the system will not load is refused, naming it', async (t) => {
  const directory = tempDir(t);
  useNativeAddonDirectory(directory);
  const notAnAddon = Buffer.from('not a shared library');
  const addon = embedded({ sha256: sha256(notAnAddon), bytes: () => notAnAddon });
  const path = join(directory, `sodium-native-${sha256(notAnAddon).slice(0, 16)}.node`);
  const error = t.throws(() => loadEmbeddedAddon([addon]), { name: 'P2pError', errorName: 'NATIVE_ADDON_UNUSABLE', message: new RegExp(`^cannot load ${path}: `) });
  t.equal(reasonOf(error), 'load_failed');
});
