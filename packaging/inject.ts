import { readFileSync, writeFileSync } from 'node:fs';
import { inject } from 'postject';
import { PackagingError } from './errors';
import { MACHO_SEA_SEGMENT, SEA_FUSE, SEA_RESOURCE, withoutPeSignature } from './executable-headers';
import type { ExecutableFormat } from './targets';

/**
 * Puts the SEA blob into a copy of a Node executable, where that format's
 * Node looks for it, and flips the sentinel fuse. For Mach-O, postject also
 * drops the release's code signature, which the new segment invalidates;
 * for PE the stale certificate-table entry is cleared here.
 */
export async function injectSeaBlob(executable: string, blob: Buffer, format: ExecutableFormat): Promise<void> {
  try {
    await inject(executable, SEA_RESOURCE, blob, {
      sentinelFuse: SEA_FUSE,
      ...(format === 'macho' ? { machoSegmentName: MACHO_SEA_SEGMENT } : {}),
    });
  } catch (error) {
    throw new PackagingError('inject_failed', `postject could not inject the blob into ${executable}: ${(error as Error).message}`);
  }
  if (format === 'pe') writeFileSync(executable, withoutPeSignature(readFileSync(executable)));
}
