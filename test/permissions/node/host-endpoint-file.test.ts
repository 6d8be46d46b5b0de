import { spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { acquireLock } from '../../../extension/common/lock-file';
import { HOST_ENDPOINT_FILE_NAME, publishHostEndpoint, runningHostEndpoint } from '../../../permissions/node/host-endpoint-file';
import { tempDir } from '../../helpers/extension';

const KEY = 'k'.repeat(43);

t.test('the running host is found while it holds the host dir, and no longer once it stopped', async (t) => {
  const hostDir = tempDir(t);
  const lockPath = join(hostDir, 'host.lock');
  const lock = acquireLock(lockPath);
  const published = publishHostEndpoint(hostDir, 'http://127.0.0.1:4321', KEY);
  if (process.platform !== 'win32') t.equal(statSync(join(hostDir, HOST_ENDPOINT_FILE_NAME)).mode & 0o777, 0o600);
  t.same(runningHostEndpoint(hostDir, lockPath), { url: 'http://127.0.0.1:4321', page_key: KEY, pid: process.pid });
  published.withdraw();
  lock.release();
  t.equal(runningHostEndpoint(hostDir, lockPath), undefined);
});

t.test('a file left by a host that is gone, or written by a process not holding the lock, is not believed', async (t) => {
  const hostDir = tempDir(t);
  const lockPath = join(hostDir, 'host.lock');
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
  writeFileSync(join(hostDir, HOST_ENDPOINT_FILE_NAME), JSON.stringify({ url: 'http://127.0.0.1:4321', page_key: KEY, pid: Number(gone) }));
  writeFileSync(lockPath, `${gone}\n`);
  t.equal(runningHostEndpoint(hostDir, lockPath), undefined, 'its process is gone');
  const lock = acquireLock(lockPath);
  t.teardown(() => lock.release());
  t.equal(runningHostEndpoint(hostDir, lockPath), undefined, 'another process holds the lock');
  writeFileSync(join(hostDir, HOST_ENDPOINT_FILE_NAME), JSON.stringify({ url: 'http://example.com:80', page_key: KEY, pid: process.pid }));
  t.equal(runningHostEndpoint(hostDir, lockPath), undefined, 'only loopback addresses');
  writeFileSync(join(hostDir, HOST_ENDPOINT_FILE_NAME), JSON.stringify({ url: 'http://127.0.0.1:4321', page_key: 'short', pid: process.pid }));
  t.equal(runningHostEndpoint(hostDir, lockPath), undefined, 'a login link key is 32 bytes');
  writeFileSync(join(hostDir, HOST_ENDPOINT_FILE_NAME), '{');
  t.equal(runningHostEndpoint(hostDir, lockPath), undefined, 'damaged');
});
