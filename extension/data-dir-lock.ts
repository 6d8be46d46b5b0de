import { join } from 'node:path';
import { P2pError } from './common/errors';
import { acquireLock, type HeldLock, LockHeldError } from './common/lock-file';

/**
 * One data_dir is run by one p2p-comm process at a time: two hosts (or two
 * Nexus installs) pointed at the same data_dir would otherwise run two nodes
 * with one identity, each appending to the same logs and overwriting the
 * other's trust decisions. The lock names its holder's pid; after a crash
 * or kill -9 that pid is gone, so a restarted extension takes it over.
 */
export const DATA_DIR_LOCK_FILE_NAME = 'p2p-comm.lock';

/** Takes the data_dir's lock, or throws DATA_DIR_UNUSABLE naming the process that holds it. */
export function lockDataDir(dataDir: string): HeldLock {
  try {
    return acquireLock(join(dataDir, DATA_DIR_LOCK_FILE_NAME));
  } catch (error) {
    if (error instanceof LockHeldError) {
      throw new P2pError(
        'DATA_DIR_UNUSABLE',
        `data_dir ${dataDir} is in use by another p2p-comm process (pid ${error.holderPid}); ` +
          'stop the other p2p-comm process first (its host or Nexus), or give this one its own data_dir',
      );
    }
    throw new P2pError('DATA_DIR_UNUSABLE', `cannot lock data_dir ${dataDir}: ${(error as Error).message}`);
  }
}
