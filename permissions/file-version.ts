import { statSync } from 'node:fs';
import { isErrnoException } from '../extension/common/atomic-file';

/**
 * What tells one version of a file from the next without reading it:
 * device, inode (an atomic replace makes a new one), size and modification
 * time in nanoseconds. The host re-reads files the CLI changes (grants,
 * plugin declarations) only when this changed. Null when the file does not
 * exist; any other failure is the caller's to report.
 */
export type FileVersion = string | null;

export function fileVersion(path: string): FileVersion {
  try {
    const stat = statSync(path, { bigint: true });
    return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}`;
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') return null;
    throw error;
  }
}
