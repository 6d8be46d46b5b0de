import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PackagingError } from './errors';

/** The sha512 of a file, in the `sha512-<base64>` form npm records. */
export async function sha512Integrity(path: string): Promise<string> {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha512-${hash.digest('base64')}`;
}

/** Refuses a file whose sha512 is not the pinned one. */
export async function verifyIntegrity(path: string, pinned: string, what: string): Promise<void> {
  if (!pinned.startsWith('sha512-')) {
    throw new PackagingError('integrity_mismatch', `${what}: the pin must be a sha512 integrity string, got ${pinned}`);
  }
  const actual = await sha512Integrity(path);
  if (actual !== pinned) {
    throw new PackagingError(
      'integrity_mismatch',
      `${what}: ${path} has ${actual}, but packaging/node-runtimes.ts pins ${pinned}. ` +
        'Delete the file to fetch it again; if the registry really serves these bytes, check why before changing the pin.',
    );
  }
}
