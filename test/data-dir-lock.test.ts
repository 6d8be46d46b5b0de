import { join } from 'node:path';
import t from 'tap';
import { DATA_DIR_LOCK_FILE_NAME, lockDataDir } from '../extension/data-dir-lock';
import { dataDirLockHolder, tempDir } from './helpers/extension';

t.test('a data dir is locked once; a second lock names the holder and what to do', async (t) => {
  const dataDir = tempDir(t);
  const lock = lockDataDir(dataDir);
  t.equal(lock.path, join(dataDir, DATA_DIR_LOCK_FILE_NAME));
  t.equal(dataDirLockHolder(dataDir), String(process.pid));
  t.throws(() => lockDataDir(dataDir), {
    name: 'P2pError',
    errorName: 'DATA_DIR_UNUSABLE',
    message: `data_dir ${dataDir} is in use by another p2p-comm process (pid ${process.pid}); stop the other p2p-comm process first (its host or Nexus), or give this one its own data_dir`,
  });
  lock.release();
  t.equal(dataDirLockHolder(dataDir), null);
  lockDataDir(dataDir).release();
});

t.test('a data dir that cannot hold the lock file is unusable, with the reason', async (t) => {
  const missing = join(tempDir(t), 'missing');
  t.throws(() => lockDataDir(missing), { errorName: 'DATA_DIR_UNUSABLE', message: new RegExp(`^cannot lock data_dir ${missing}: .*ENOENT`) });
});
