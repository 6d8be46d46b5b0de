import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * State files are replaced, never rewritten in place: a crash or a full disk
 * leaves either the old file or the new one, never a torn mix. The temp file
 * lives in the target's directory because rename is only atomic within one
 * file system.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): void {
  const temp = writeTempFile(path, data, mode);
  try {
    renameSync(temp, path);
  } catch (error) {
    removeQuietly(temp);
    throw error;
  }
  fsyncDirectory(dirname(path));
}

/**
 * Like writeFileAtomic, but fails with EEXIST instead of replacing an
 * existing file: link(2), unlike rename(2), never overwrites its target.
 * For files that must never be lost to a second writer, such as a key.
 */
export function createFileAtomic(path: string, data: string | Uint8Array, mode: number): void {
  const temp = writeTempFile(path, data, mode);
  try {
    linkSync(temp, path);
  } finally {
    removeQuietly(temp);
  }
  fsyncDirectory(dirname(path));
}

/** Moves a file already durable into place over `to`; the rename itself is durable on return. */
export function renameDurably(from: string, to: string): void {
  renameSync(from, to);
  fsyncDirectory(dirname(to));
}

/** Undefined only when the file does not exist; any other failure is the caller's to report. */
export function readFileIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') return undefined;
    throw error;
  }
}

function writeTempFile(path: string, data: string | Uint8Array, mode: number): string {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx': a leftover file of the same name is never reused.
  const fd = openSync(temp, 'wx', mode);
  try {
    // The umask may have narrowed the mode given to open; set it exactly.
    fchmodSync(fd, mode);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let written = 0;
    while (written < bytes.length) {
      written += writeSync(fd, bytes, written, bytes.length - written);
    }
    fsyncSync(fd);
  } catch (error) {
    try {
      closeSync(fd);
    } finally {
      removeQuietly(temp);
    }
    throw error;
  }
  try {
    closeSync(fd);
  } catch (error) {
    removeQuietly(temp);
    throw error;
  }
  return temp;
}

/** Makes the new directory entry itself durable, not only the file's contents. */
function fsyncDirectory(directory: string): void {
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone, or the original failure is the one worth reporting.
  }
}

export function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string';
}
