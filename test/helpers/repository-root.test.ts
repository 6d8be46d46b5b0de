import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { tempDir } from './extension';
import { repositoryRoot } from './repository-root';

t.test('from test/helpers, and from dist/ where the bench bundle runs, the root is the one with package.json named p2p-comm', async (t) => {
  const root = resolve(__dirname, '..', '..');
  t.equal(repositoryRoot(), root);
  t.equal(repositoryRoot(join(root, 'dist')), root);
});

t.test('a package.json of another name, or one that does not parse, is passed over', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'p2p-comm' }));
  mkdirSync(join(dir, 'node_modules', 'other', 'lib'), { recursive: true });
  writeFileSync(join(dir, 'node_modules', 'other', 'package.json'), JSON.stringify({ name: 'other' }));
  writeFileSync(join(dir, 'node_modules', 'package.json'), '{ not json');
  t.equal(repositoryRoot(join(dir, 'node_modules', 'other', 'lib')), dir);
});

t.test('with no such package.json above, it says where it looked', async (t) => {
  const dir = tempDir(t);
  t.throws(() => repositoryRoot(dir), { message: `no package.json named p2p-comm in ${dir} or above it` });
});
