import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { acquireLock, LockHeldError } from '../../extension/common/lock-file';
import { tempDir } from '../helpers/extension';

t.test('a lock is held by one process until released', async (t) => {
  const path = join(tempDir(t), 'x.lock');
  const lock = acquireLock(path);
  t.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
  t.throws(() => acquireLock(path), new LockHeldError(path, process.pid));
  lock.release();
  t.notOk(existsSync(path));
  acquireLock(path).release();
});

t.test('a lock whose holder is gone is taken over; a live holder is waited for, then named', async (t) => {
  const path = join(tempDir(t), 'x.lock');
  writeFileSync(path, '2147483646\n');
  const taken = acquireLock(path);
  t.equal(readFileSync(path, 'utf8'), `${process.pid}\n`, 'stale lock replaced');
  taken.release();
  writeFileSync(path, 'garbage');
  acquireLock(path).release();
  t.pass('an unreadable lock is stale too');

  const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => holder.kill('SIGKILL'));
  writeFileSync(path, `${String(holder.pid)}\n`);
  const started = Date.now();
  t.throws(() => acquireLock(path, { waitMs: 50 }), { name: 'LockHeldError', holderPid: holder.pid });
  t.ok(Date.now() - started >= 50, 'waited before giving up');
  t.equal(readFileSync(path, 'utf8'), `${String(holder.pid)}\n`, 'a live holder keeps its lock');
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  acquireLock(path).release();
});

t.test('a lock naming this pid that this process never took is stale (a restarted container reuses pids)', async (t) => {
  const path = join(tempDir(t), 'x.lock');
  writeFileSync(path, `${process.pid}\n`);
  const lock = acquireLock(path);
  t.throws(() => acquireLock(path), { name: 'LockHeldError' }, 'but one it took itself is held');
  lock.release();
  t.notOk(existsSync(path));
});
