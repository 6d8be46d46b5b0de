import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { PackagingError } from './errors';
import { nativeAddonsPlugin, type AddonEmbedding, type EmbeddedAddonFile } from './native-addons';

export interface BundleRequest {
  /** The repository root: the native addon loader is found from it. */
  projectRoot: string;
  entryPoint: string;
  outfile: string;
  addons: AddonEmbedding;
}

/**
 * One file for Node 20 and later holding the entry point, its
 * dependencies and their native addons; executable, with the entry's
 * `#!/usr/bin/env node` line. Returns the addons embedded, by name and
 * platform.
 */
export async function bundle(request: BundleRequest): Promise<EmbeddedAddonFile[]> {
  const embedded: EmbeddedAddonFile[] = [];
  const loaderModule = join(request.projectRoot, 'extension', 'common', 'native-addons.ts');
  try {
    await build({
      entryPoints: [request.entryPoint],
      outfile: request.outfile,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      logLevel: 'warning',
      plugins: [nativeAddonsPlugin(request.addons, loaderModule, embedded)],
    });
  } catch (error) {
    throw new PackagingError('bundle_failed', `cannot bundle ${request.entryPoint}: ${(error as Error).message}`);
  }
  chmodSync(request.outfile, 0o755);
  // In a fixed order whatever order esbuild loaded them in: the assets, and so the executables, come out the same every build.
  return embedded.sort((a, b) => a.name.localeCompare(b.name) || a.platform.localeCompare(b.platform));
}
