import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createFileAtomic, readFileIfExists, writeFileAtomic } from '../../extension/common/atomic-file';
import { tempDir } from '../helpers/extension';

t.test('writes the content with exactly the requested mode, whatever the umask', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'state.json');
  const previousUmask = process.umask(0o077);
  t.teardown(() => process.umask(previousUmask));
  writeFileAtomic(path, '{"a":1}', 0o640);
  t.equal(readFileSync(path, 'utf8'), '{"a":1}');
  t.equal(statSync(path).mode & 0o777, 0o640);
  writeFileAtomic(path, new Uint8Array([1, 2, 3]), 0o600);
  t.same([...readFileSync(path)], [1, 2, 3]);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.same(readdirSync(dir), ['state.json'], 'no temp file is left behind');
});

t.test('a failed replacement leaves the target and no temp file', async (t) => {
  const dir = tempDir(t);
  const target = join(dir, 'target');
  mkdirSync(target);
  writeFileSync(join(target, 'inside'), 'kept');
  t.throws(() => writeFileAtomic(target, 'new', 0o600));
  t.same(readdirSync(dir), ['target']);
  t.equal(readFileSync(join(target, 'inside'), 'utf8'), 'kept');
  t.throws(() => writeFileAtomic(join(dir, 'missing', 'file'), 'x', 0o600), { code: 'ENOENT' });
});

t.test('createFileAtomic never replaces an existing file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'key');
  createFileAtomic(path, 'first', 0o600);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.throws(() => createFileAtomic(path, 'second', 0o600), { code: 'EEXIST' });
  t.equal(readFileSync(path, 'utf8'), 'first');
  t.same(readdirSync(dir), ['key'], 'no temp file is left behind');
});

t.test('readFileIfExists is undefined only for a missing file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'present');
  writeFileSync(path, 'hello');
  t.equal(readFileIfExists(path)?.toString('utf8'), 'hello');
  t.equal(readFileIfExists(join(dir, 'absent')), undefined);
  t.throws(() => readFileIfExists(join(path, 'below-a-file')), { code: 'ENOTDIR' });
  t.throws(() => readFileIfExists(dir), { code: 'EISDIR' });
});
