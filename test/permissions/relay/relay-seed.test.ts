import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadOrCreateRelaySeed, RELAY_SEED_FILE_NAME } from '../../../permissions/relay/relay-seed';
import { tempDir } from '../../helpers/extension';

t.test('created on first use, mode 0600, in a new host dir; the same seed ever after', async (t) => {
  const hostDir = join(tempDir(t), 'host');
  const seed = loadOrCreateRelaySeed(hostDir);
  t.equal(seed.length, 32);
  const path = join(hostDir, RELAY_SEED_FILE_NAME);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.equal(statSync(hostDir).mode & 0o777, 0o700, 'a new host dir is private too');
  t.equal(readFileSync(path, 'utf8'), `${Buffer.from(seed).toString('hex')}\n`, '64 hex digits and a newline');
  t.same(loadOrCreateRelaySeed(hostDir), seed, 'read back, not replaced');
  t.notSame(loadOrCreateRelaySeed(join(tempDir(t), 'other')), seed, 'another host dir, another seed');
});

t.test('a seed other users can read is refused, with the fix', async (t) => {
  const hostDir = tempDir(t);
  loadOrCreateRelaySeed(hostDir);
  const path = join(hostDir, RELAY_SEED_FILE_NAME);
  chmodSync(path, 0o644);
  t.throws(() => loadOrCreateRelaySeed(hostDir), { errorName: 'IDENTITY_UNUSABLE', message: `is accessible to other users (mode 0644); run \`chmod 600 ${path}\`` });
});

t.test('a damaged seed is refused and never replaced', async (t) => {
  const hostDir = tempDir(t);
  const path = join(hostDir, RELAY_SEED_FILE_NAME);
  for (const content of ['', 'ab'.repeat(31), `${'AB'.repeat(32)}\n`, `${'ab'.repeat(32)}00\n`, 'not hex at all']) {
    writeFileSync(path, content, { mode: 0o600 });
    t.throws(() => loadOrCreateRelaySeed(hostDir), { errorName: 'IDENTITY_UNUSABLE', message: /is not 64 hex digits; restore it from a backup, or move it away/ }, JSON.stringify(content));
    t.equal(readFileSync(path, 'utf8'), content, 'left as it was');
  }
});
