import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PackagingError } from './errors';

const run = promisify(execFile);

/**
 * The SEA configuration. No code cache and no snapshot: both are only
 * valid on the platform that made them, and the blobs for macOS, Windows
 * and arm64 are made on Linux x64. NODE_OPTIONS is ignored (execArgv
 * extension "none"): the executable runs with the environment of the app
 * that starts it, whose node settings are not meant for it.
 */
function seaConfig(main: string, assets: Record<string, string>, output: string): Record<string, unknown> {
  return {
    main,
    output,
    assets,
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: false,
    execArgvExtension: 'none',
  };
}

/**
 * Makes the SEA blob for `main` and its `assets` (key → file, read in the
 * executable with `require('node:sea').getAsset(key)`) with `builderNode`,
 * which must be the exact Node version the blob goes into.
 */
export async function buildSeaBlob(builderNode: string, main: string, assets: Record<string, string>, workDir: string): Promise<string> {
  const configPath = join(workDir, 'sea-config.json');
  const blobPath = join(workDir, 'sea.blob');
  writeFileSync(configPath, JSON.stringify(seaConfig(main, assets, blobPath), null, 2));
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_OPTIONS'));
  try {
    await run(builderNode, ['--experimental-sea-config', configPath], { env });
  } catch (error) {
    throw new PackagingError('blob_failed', `${builderNode} --experimental-sea-config failed: ${(error as Error).message}`);
  }
  if (!existsSync(blobPath)) throw new PackagingError('blob_failed', `${builderNode} wrote no blob to ${blobPath}`);
  return blobPath;
}
