import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { checkInstallableManifest, checkManifest } from '../../../permissions/host/manifest-rules';

const repositoryManifest = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'manifest.json'), 'utf8')) as Record<string, unknown>;

const LINUX_ENTRY = {
  url: 'file://extension',
  signature: 'c2lnbmF0dXJl',
  sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
};

const withBinaries = (binaries: unknown, patch: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...repositoryManifest,
  binaries,
  ...patch,
});

t.test("the repository's manifest.json passes validate_metadata and fails validate only for its empty binaries", async (t) => {
  t.equal(checkManifest(repositoryManifest), null);
  t.equal(checkInstallableManifest(repositoryManifest), 'at least one binary platform entry is required');
  t.equal(checkInstallableManifest(withBinaries({ 'x86_64-unknown-linux-gnu': LINUX_ENTRY })), null, 'one complete entry is all it lacks');
});

t.test('validate refuses an empty url, signature or sha256, naming the platform', async (t) => {
  for (const field of ['url', 'signature', 'sha256'] as const) {
    const entry = { ...LINUX_ENTRY, [field]: '' };
    t.equal(
      checkInstallableManifest(withBinaries({ 'aarch64-apple-darwin': LINUX_ENTRY, 'x86_64-unknown-linux-gnu': entry })),
      `binary ${field} is empty for platform 'x86_64-unknown-linux-gnu'`,
    );
  }
});

t.test('validate checks nothing of the form of url, signature or sha256, as Nexus', async (t) => {
  const odd = { url: 'not a url', signature: '!', sha256: 'XYZ' };
  t.equal(checkInstallableManifest(withBinaries({ 'no-such-target': odd })), null);
});

t.test('binaries must have the shape Nexus parses: an object of entries with three strings', async (t) => {
  t.equal(checkManifest(withBinaries([])), 'binaries must be an object');
  t.equal(checkManifest(withBinaries(null)), 'binaries must be an object');
  const { sha256: _missing, ...withoutDigest } = LINUX_ENTRY;
  t.equal(
    checkManifest(withBinaries({ 'x86_64-unknown-linux-gnu': withoutDigest })),
    "binary entry for platform 'x86_64-unknown-linux-gnu' must have string url, signature and sha256",
  );
  t.equal(
    checkManifest(withBinaries({ 'x86_64-unknown-linux-gnu': { ...LINUX_ENTRY, url: 7 } })),
    "binary entry for platform 'x86_64-unknown-linux-gnu' must have string url, signature and sha256",
  );
});

t.test('validate runs the metadata rules first', async (t) => {
  t.equal(
    checkInstallableManifest(withBinaries({ 'x86_64-unknown-linux-gnu': LINUX_ENTRY }, { author_public_key: '' })),
    'author_public_key is required',
  );
});

t.test('extension_dependencies: ids of other extensions', async (t) => {
  const withDependencies = (extension_dependencies: unknown) => checkManifest({ ...repositoryManifest, extension_dependencies });
  t.equal(withDependencies(['other-extension', 'x_1']), null);
  t.equal(withDependencies(['p2p-comm']), 'extension_dependencies must not include self');
  t.equal(
    withDependencies(['Other']),
    "extension_dependencies entry must contain only lowercase letters, digits, underscores, and hyphens: 'Other'",
  );
  t.equal(withDependencies(['']), "extension_dependencies entry must be 1-100 characters: ''");
  t.equal(withDependencies('other'), 'extension_dependencies must be a list of strings');
});
