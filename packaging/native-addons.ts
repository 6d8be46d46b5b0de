import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { OnLoadArgs, OnLoadResult, Plugin } from 'esbuild';

/**
 * Native addons in the bundles. Each of these packages ships prebuilt
 * addons as prebuilds/<platform>-<arch>/<name>.node and loads them from
 * its binding.js through require-addon, which looks for them beside the
 * script: in a bundle there is nothing beside it. So the plugin below
 * replaces each binding.js with a module that hands the embedded bytes to
 * extension/common/native-addons.ts, which writes, checks and loads them.
 */
export const NATIVE_ADDONS: readonly string[] = ['sodium-native', 'udx-native'];

/**
 * Where the bytes go: base64 literals in the script itself, for each
 * platform listed (dist/p2p-comm, dist/p2p-comm-host), or single-file
 * executable assets for the one platform of its Node.
 */
export type AddonEmbedding = { readonly into: 'script'; readonly platforms: readonly string[] } | { readonly into: 'sea-assets'; readonly platform: string };

/** One prebuild put into a bundle, with the hash the bundle records for it. */
export interface EmbeddedAddonFile {
  readonly name: string;
  readonly platform: string;
  /** The prebuild in node_modules the bytes were read from. */
  readonly file: string;
  readonly sha256: string;
  /** Its key among the executable's assets (`require('node:sea').getAsset`). */
  readonly assetKey: string;
}

/**
 * The esbuild plugin. Every addon it embeds is pushed to `embedded`, so
 * the caller knows what the bundle needs (the assets of an executable).
 * `loaderModule` is extension/common/native-addons.ts.
 */
export function nativeAddonsPlugin(embedding: AddonEmbedding, loaderModule: string, embedded: EmbeddedAddonFile[]): Plugin {
  return {
    name: 'native-addons',
    setup(build) {
      // A package of NATIVE_ADDONS never gets here: its binding.js, the only user of require-addon, is replaced.
      build.onResolve({ filter: /^require-addon$/ }, (args) => ({
        errors: [{ text: `${args.importer} loads a native addon through require-addon, which finds nothing in a bundle: add its package to NATIVE_ADDONS in packaging/native-addons.ts` }],
      }));
      build.onLoad({ filter: /[\\/]binding\.js$/ }, (args) => bindingModule(args, embedding, loaderModule, embedded));
    },
  };
}

/** The executable's assets for what a bundle embedded: key → file. */
export function seaAssets(embedded: readonly EmbeddedAddonFile[]): Record<string, string> {
  return Object.fromEntries(embedded.map((addon) => [addon.assetKey, addon.file]));
}

function bindingModule(args: OnLoadArgs, embedding: AddonEmbedding, loaderModule: string, embedded: EmbeddedAddonFile[]): OnLoadResult | undefined {
  const packageDir = dirname(args.path);
  const name = packageName(packageDir);
  if (name === undefined || !NATIVE_ADDONS.includes(name)) return undefined;
  const platforms = embedding.into === 'script' ? embedding.platforms : [embedding.platform];
  const missing = platforms.filter((platform) => !existsSync(prebuildPath(packageDir, name, platform)));
  if (missing.length > 0) {
    return {
      errors: missing.map((platform) => ({
        text: `${prebuildPath(packageDir, name, platform)} is missing: ${name} has no prebuilt addon for ${platform} (reinstall with npm ci, or build for another platform)`,
      })),
    };
  }
  const builds = platforms.map((platform) => prebuild(packageDir, name, platform));
  embedded.push(...builds);
  const bytes = (addon: EmbeddedAddonFile): string =>
    embedding.into === 'script'
      ? `Buffer.from(${JSON.stringify(readFileSync(addon.file).toString('base64'))}, 'base64')`
      : `Buffer.from(require('node:sea').getAsset(${JSON.stringify(addon.assetKey)}))`;
  const entries = builds.map(
    (addon) => `  { name: ${JSON.stringify(addon.name)}, platform: ${JSON.stringify(addon.platform)}, sha256: ${JSON.stringify(addon.sha256)}, bytes: () => ${bytes(addon)} },`,
  );
  return {
    contents: [`const { loadEmbeddedAddon } = require(${JSON.stringify(loaderModule)});`, 'module.exports = loadEmbeddedAddon([', ...entries, ']);', ''].join('\n'),
    loader: 'js',
    resolveDir: packageDir,
  };
}

function prebuildPath(packageDir: string, name: string, platform: string): string {
  return join(packageDir, 'prebuilds', platform, `${name}.node`);
}

function prebuild(packageDir: string, name: string, platform: string): EmbeddedAddonFile {
  const file = prebuildPath(packageDir, name, platform);
  const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
  return { name, platform, file, sha256, assetKey: `native/${platform}/${name}.node` };
}

function packageName(packageDir: string): string | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { name?: unknown };
    return typeof parsed.name === 'string' ? parsed.name : undefined;
  } catch {
    // A binding.js outside a package root is none of ours.
    return undefined;
  }
}
