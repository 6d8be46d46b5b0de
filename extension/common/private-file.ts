import { statSync } from 'node:fs';
import { readFileIfExists } from './atomic-file';
import { P2pError } from './errors';

/**
 * Reads a file that holds a secret (a key or a seed); undefined when there
 * is none. One that other users of the machine can read is refused, with
 * the command that fixes it: the secret may already be known to them. On
 * Windows, Node reports no such permission bits (access is governed by
 * ACLs, and the profile directories these files live in are private), so
 * nothing is checked there.
 */
export function readPrivateFile(path: string, what: string): Buffer | undefined {
  let content: Buffer | undefined;
  let mode: number;
  try {
    content = readFileIfExists(path);
    if (content === undefined) return undefined;
    mode = statSync(path).mode;
  } catch (error) {
    throw new P2pError('IDENTITY_UNUSABLE', `cannot read ${what} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    const octal = `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
    throw new P2pError('IDENTITY_UNUSABLE', `${what} ${path} is accessible to other users (mode ${octal}); run \`chmod 600 ${path}\` and start again`);
  }
  return content;
}
