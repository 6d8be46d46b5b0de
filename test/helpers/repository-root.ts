import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The directory of the package.json named p2p-comm at or above `from`.
 * Paths into the repository (dist/, test/fixtures/) are taken from it, not
 * from a fixed number of `..` above __dirname: the helpers run from
 * test/helpers under tap and from dist/ once bundled into the bench.
 */
export function repositoryRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (isThisPackage(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json named p2p-comm in ${from} or above it`);
  }
}

function isThisPackage(path: string): boolean {
  if (!existsSync(path)) return false;
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown }).name === 'p2p-comm';
  } catch {
    // A package.json that does not parse is not ours either.
    return false;
  }
}
