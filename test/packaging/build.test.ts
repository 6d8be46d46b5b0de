import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildExecutable, executablePath } from '../../packaging/build';
import { tempDir } from '../helpers/extension';

const ROOT = join(__dirname, '..', '..');

t.test('a build that fails leaves nothing where the executable goes', async (t) => {
  const outDir = tempDir(t);
  await t.rejects(
    buildExecutable('x86_64-unknown-linux-gnu', {
      projectRoot: ROOT,
      cacheDir: tempDir(t),
      entryPoint: join(tempDir(t), 'no-such-entry.ts'),
      outDir,
    }),
    { name: 'PackagingError', code: 'bundle_failed' },
  );
  t.same(readdirSync(outDir, { recursive: true }), [], 'no executable, no partial file');
});

t.test('executables go to <outDir>/<target>/, extension.exe for Windows', async (t) => {
  t.equal(executablePath('aarch64-unknown-linux-gnu', '/out'), '/out/aarch64-unknown-linux-gnu/extension');
  t.equal(executablePath('x86_64-pc-windows-msvc', '/out'), '/out/x86_64-pc-windows-msvc/extension.exe');
});
