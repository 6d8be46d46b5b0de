import { readFileSync, unlinkSync } from 'node:fs';
import { createFileAtomic, isErrnoException } from './atomic-file';

/**
 * A lock held by one process: a file created only if absent (link(2) never
 * replaces a target), holding the holder's pid. A lock whose holder is no
 * longer running (killed, crashed) is stale and taken over, so a crash never
 * leaves a host dir locked for good.
 */
export interface HeldLock {
  readonly path: string;
  release(): void;
}

export interface LockOptions {
  /** How long to keep trying while another live process holds the lock; 0 tries once. */
  waitMs?: number;
}

/** Thrown when a live process holds the lock beyond the wait. */
export class LockHeldError extends Error {
  override name = 'LockHeldError';

  constructor(
    readonly path: string,
    readonly holderPid: number,
  ) {
    super(`${path} is held by process ${holderPid}`);
  }
}

const RETRY_PAUSE_MS = 5;
/** The locks this process holds: a lock file naming this pid but not listed here is another process's, left behind by one that had the same pid (after a container restart, pid 1 again). */
const held = new Set<string>();
const pause = new Int32Array(new SharedArrayBuffer(4));

/** Takes the lock or throws LockHeldError naming the pid that holds it. */
export function acquireLock(path: string, options: LockOptions = {}): HeldLock {
  const deadline = Date.now() + (options.waitMs ?? 0);
  for (;;) {
    try {
      createFileAtomic(path, `${process.pid}\n`, 0o600);
      held.add(path);
      return { path, release: () => releaseLock(path) };
    } catch (error) {
      if (!isErrnoException(error) || error.code !== 'EEXIST') throw error;
    }
    const holder = holderOf(path);
    if (holder === null || !isRunning(path, holder)) {
      removeStale(path, holder);
      continue;
    }
    if (Date.now() >= deadline) throw new LockHeldError(path, holder);
    // Lock holders keep it for one file write; a short synchronous pause keeps the callers simple.
    Atomics.wait(pause, 0, 0, RETRY_PAUSE_MS);
  }
}

/** The pid of the running process that holds the lock; null when none does (no lock file, or one its holder left behind). */
export function liveHolderOf(path: string): number | null {
  const holder = holderOf(path);
  return holder !== null && isRunning(path, holder) ? holder : null;
}

/** The pid in the lock file; null when the file is gone or unreadable (a holder mid-write, or damage). */
function holderOf(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

function isRunning(path: string, pid: number): boolean {
  if (pid === process.pid) return held.has(path);
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return isErrnoException(error) && error.code === 'EPERM';
  }
}

/** Removes a stale lock, unless another process took it over in the meantime. */
function removeStale(path: string, stalePid: number | null): void {
  if (holderOf(path) !== stalePid) return;
  try {
    unlinkSync(path);
  } catch (error) {
    if (!isErrnoException(error) || error.code !== 'ENOENT') throw error;
  }
}

function releaseLock(path: string): void {
  if (!held.delete(path) || holderOf(path) !== process.pid) return;
  try {
    unlinkSync(path);
  } catch (error) {
    if (!isErrnoException(error) || error.code !== 'ENOENT') throw error;
  }
}
