import t from 'tap';
import { parseArguments, parseTargets, releaseFileName } from '../../packaging/cli';
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

t.test('--key, --new-key and --base-url take a value, inline or next', async (t) => {
  t.match(parseArguments(['--key', '/keys/release.pem', '--base-url=https://example.org/r/']), {
    keyFile: '/keys/release.pem',
    baseUrl: 'https://example.org/r/',
    newKey: undefined,
  });
  t.equal(parseArguments(['--new-key=/keys/new.pem']).newKey, '/keys/new.pem');
  t.throws(() => parseArguments(['--key']), { message: /--key needs a value/ });
});

t.test('release assets carry their target in their name', async (t) => {
  t.equal(releaseFileName('x86_64-pc-windows-msvc', '/d/x86_64-pc-windows-msvc/extension.exe'), 'p2p-comm-x86_64-pc-windows-msvc.exe');
  t.equal(releaseFileName('aarch64-unknown-linux-gnu', '/d/aarch64-unknown-linux-gnu/extension'), 'p2p-comm-aarch64-unknown-linux-gnu');
});
