import t from 'tap';
import { parseTargets } from '../../packaging/cli';
import { TARGET_NAMES } from '../../packaging/targets';

t.test('no --target builds every target', async (t) => {
  t.same(parseTargets([]), TARGET_NAMES);
  t.equal(TARGET_NAMES.length, 5);
});

t.test('--target picks targets, in both spellings, once each', async (t) => {
  t.same(parseTargets(['--target', 'x86_64-unknown-linux-gnu']), ['x86_64-unknown-linux-gnu']);
  t.same(parseTargets(['--target=x86_64-pc-windows-msvc', '--target', 'aarch64-apple-darwin', '--target', 'x86_64-pc-windows-msvc']), [
    'x86_64-pc-windows-msvc',
    'aarch64-apple-darwin',
  ]);
});

t.test('an unknown target or argument is refused with the list of targets', async (t) => {
  t.throws(() => parseTargets(['--target', 'riscv64-unknown-linux-gnu']), { code: 'unknown_target', message: /known: x86_64-unknown-linux-gnu/ });
  t.throws(() => parseTargets(['--target']), { code: 'unknown_target' });
  t.throws(() => parseTargets(['--all']), { code: 'unknown_target', message: /usage/ });
});
