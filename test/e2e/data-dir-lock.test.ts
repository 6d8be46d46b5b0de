import { join } from 'node:path';
import t from 'tap';
import { ExtensionProcess } from '../../permissions/host/extension-process';
import { manifest } from '../../extension/common/manifest';
import { BINARY, dataDirLockHolder, dataOf, LOOPBACK_ONLY, startExtension, tempDir } from '../helpers/extension';

t.test('a second extension on the same data_dir is refused naming the first; the first keeps working', async (t) => {
  const { extension: first, dataDir } = await startExtension(t);
  const directory = dataDir as string;
  t.equal(dataDirLockHolder(directory), String(first.pid), 'the lock names the running extension');
  const peer = dataOf(t, await first.execute('identity', {}))['peer_id'];

  const second = ExtensionProcess.spawn({
    binary: BINARY,
    extensionId: manifest.id,
    version: manifest.version,
    dataDir: directory,
    env: { ...process.env, ...LOOPBACK_ONLY },
  });
  t.teardown(() => second.kill());
  const refused = await second.call('initialize', { extension_id: manifest.id, version: manifest.version, data_dir: directory });
  t.match(refused.error, {
    code: -32005,
    message: `data_dir_unusable: data_dir ${directory} is in use by another p2p-comm process (pid ${String(first.pid)}); stop the other p2p-comm process first (its host or Nexus), or give this one its own data_dir`,
    data: { error: 'data_dir_unusable' },
  });

  t.equal(dataOf(t, await first.execute('identity', {}))['peer_id'], peer, 'the first still answers, with its identity');
  t.equal(dataDirLockHolder(directory), String(first.pid), 'and still holds the lock');

  t.match(await first.shutdown(), { code: 0, exitedWithinGrace: true });
  t.equal(dataDirLockHolder(directory), null, 'shutdown releases the lock');
  const retried = await second.call('initialize', { extension_id: manifest.id, version: manifest.version, data_dir: directory });
  t.match(retried.result, { data_dir: directory }, 'once the first is stopped, the second starts');
  t.equal(dataDirLockHolder(directory), String(second.pid));
  t.equal(dataOf(t, await second.execute('identity', {}))['peer_id'], peer, 'as the same node');
});

t.test('after kill -9 the lock is stale: a new extension on the data_dir starts', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const { extension: killed } = await startExtension(t, { dataDir });
  killed.kill('SIGKILL');
  await killed.waitForExit(5000);
  t.equal(dataDirLockHolder(dataDir), String(killed.pid), 'kill -9 leaves the lock behind');

  const { extension: restarted } = await startExtension(t, { dataDir });
  t.equal(dataDirLockHolder(dataDir), String(restarted.pid), 'taken over');
  dataOf(t, await restarted.execute('status', {}));
});

t.test('SIGTERM releases the lock', async (t) => {
  const { extension, dataDir } = await startExtension(t);
  extension.kill('SIGTERM');
  t.match(await extension.waitForExit(5000), { code: 0 });
  t.equal(dataDirLockHolder(dataDir as string), null);
});
