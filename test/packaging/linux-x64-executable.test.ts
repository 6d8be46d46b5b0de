import { copyFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { manifest } from '../../extension/common/manifest';
import { buildExecutable } from '../../packaging/build';
import { dataOf, isScript, LOOPBACK_ONLY, pathWithoutNode, startExtension, tempDir } from '../helpers/extension';

/*
 * Builds the linux-x64 single-file executable from the installed Node
 * release (no network: its blob builder is the same Node) and runs it as
 * Nexus would: renamed `extension`, alone in a directory, started from `/`
 * with no node on PATH. Needs `npm run build` first, as every e2e test.
 */

const ROOT = join(__dirname, '..', '..');

t.test('the linux-x64 executable answers initialize and status with no node around', async (t) => {
  const built = await buildExecutable('x86_64-unknown-linux-gnu', {
    projectRoot: ROOT,
    cacheDir: join(ROOT, 'dist', 'node-runtimes'),
    entryPoint: join(ROOT, 'extension', 'main.ts'),
    outDir: tempDir(t),
    fetchTarball: async () => {
      throw new Error('the linux-x64 Node release is an optional dependency: npm ci installs it, nothing is fetched here');
    },
  });
  const installed = join(tempDir(t), 'extension');
  copyFileSync(built, installed);
  t.notOk(isScript(installed), 'a native executable, not a script for the node on PATH');

  const dataDir = join(tempDir(t), 'data');
  // NODE_OPTIONS would make any node fail to start; the executable ignores it.
  const env = { PATH: pathWithoutNode(process.env['PATH'] ?? ''), HOME: tempDir(t), NODE_OPTIONS: '--require /nonexistent/preload.js', ...LOOPBACK_ONLY };
  const { extension, initialize, stderr } = await startExtension(t, { binary: installed, dataDir, env });
  t.same(initialize, { extension_id: manifest.id, version: manifest.version, data_dir: dataDir });
  t.equal(readlinkSync(`/proc/${extension.pid}/exe`), installed, 'the process is the executable itself');
  t.equal(readlinkSync(`/proc/${extension.pid}/cwd`), '/', 'started from /');

  const status = dataOf(t, await extension.execute('status', {}));
  t.equal(status['version'], manifest.version);
  t.match(status['peer_id'], /^[a-z2-7]{51}[aq]$/, 'the identity was made under the embedded Node');

  const exit = await extension.shutdown();
  t.equal(exit.code, 0, 'shuts down cleanly');
  t.notOk(
    stderr.some((line) => /ExperimentalWarning|experimental feature/i.test(line)),
    'no SEA experimental warning on stderr',
  );
});
