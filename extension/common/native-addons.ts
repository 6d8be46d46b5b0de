import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from './atomic-file';
import { P2pError } from './errors';

/**
 * Native addons (sodium-native and udx-native, under hyperdht) in a
 * bundled build. Node can only load an addon from a file, and a bundle or
 * single-file executable is one file: so the build embeds each addon's
 * bytes (packaging/native-addons.ts replaces the package's binding.js with
 * a call to loadEmbeddedAddon), and at first use they are written to a
 * directory of ours and loaded from there. The file is checked against
 * the SHA-256 recorded at build time every time before it is loaded: the
 * directory lives in the user's data, where a stale or altered file must
 * never become code in this process.
 *
 * Run from the TypeScript sources (the unit tests), nothing is embedded:
 * the packages load their addons from node_modules as usual, and the
 * directory is not used.
 */

/** One build of an addon, as the bundler embeds it. */
export interface EmbeddedAddon {
  /** The npm package, e.g. `sodium-native`. */
  readonly name: string;
  /** `<process.platform>-<process.arch>` it was built for, e.g. `linux-x64`. */
  readonly platform: string;
  /** SHA-256 of the bytes, lowercase hex, recorded when the artefact was built. */
  readonly sha256: string;
  /** The embedded bytes; only asked for when the file has to be written. */
  readonly bytes: () => Uint8Array;
}

export type NativeAddonFailure = 'no_build_for_platform' | 'directory_unwritable' | 'hash_mismatch' | 'load_failed';

const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;
/** Enough of the hash to tell builds apart; a new build gets a new file instead of replacing one a running process may have loaded. */
const FILE_NAME_HASH_CHARS = 16;

let addonDirectory: string | undefined;

/**
 * Where embedded addons are written: `<data_dir>/native` for the extension,
 * `<host-dir>/native` for the reference host. Call it before anything
 * requires hyperdht (require it lazily, after this call): the addons are
 * loaded when the module that needs them is first evaluated.
 */
export function useNativeAddonDirectory(directory: string): void {
  addonDirectory = directory;
}

/** `<process.platform>-<process.arch>`, as the addon packages name their prebuilds. */
export function thisPlatform(): string {
  return `${process.platform}-${process.arch}`;
}

/**
 * What a substituted binding.js exports: the addon built for this
 * platform, written to the directory if needed, checked, loaded.
 */
export function loadEmbeddedAddon(builds: readonly EmbeddedAddon[]): unknown {
  const name = builds[0]?.name ?? 'a native addon';
  const platform = thisPlatform();
  const addon = builds.find((build) => build.platform === platform);
  if (addon === undefined) {
    const carried = builds.map((build) => build.platform).join(', ') || 'no platform';
    throw failure('no_build_for_platform', name, `this build of p2p-comm carries ${name} for ${carried}, not for ${platform}: use the one made for ${platform} (its single-file executable, or npm run build on that machine)`);
  }
  if (addonDirectory === undefined) {
    throw new P2pError('INTERNAL_ERROR', `${name} was required before useNativeAddonDirectory() named a directory to write it to`);
  }
  return openAddon(writeVerifiedAddon(addon, addonDirectory), addon.name);
}

/**
 * The path of a file in `directory` that holds exactly the addon's bytes:
 * an existing file is kept only if its SHA-256 matches; anything else
 * (missing, truncated, altered) is replaced atomically, and the result is
 * checked again before its path is returned.
 */
export function writeVerifiedAddon(addon: EmbeddedAddon, directory: string): string {
  const path = join(directory, `${addon.name}-${addon.sha256.slice(0, FILE_NAME_HASH_CHARS)}.node`);
  try {
    mkdirSync(directory, { recursive: true, mode: DIRECTORY_MODE });
    // Only this user may change what is about to be loaded as code, between the check and the load.
    chmodSync(directory, DIRECTORY_MODE);
    if (sha256(readFileIfExists(path)) === addon.sha256) return path;
  } catch (error) {
    throw unwritable(addon.name, directory, error);
  }
  const bytes = addon.bytes();
  const embedded = sha256(bytes);
  if (embedded !== addon.sha256) {
    throw failure('hash_mismatch', addon.name, `the copy of ${addon.name} inside this build of p2p-comm has SHA-256 ${embedded}, not the ${addon.sha256} recorded when it was built: the file is damaged, install it again`);
  }
  try {
    writeFileAtomic(path, bytes, FILE_MODE);
  } catch (error) {
    throw unwritable(addon.name, directory, error);
  }
  const written = sha256(readFileIfExists(path));
  if (written !== addon.sha256) {
    throw failure('hash_mismatch', addon.name, `${path} reads back with SHA-256 ${written ?? '(missing)'} right after it was written with ${addon.sha256}: check the disk, or whether something else writes to ${directory}`);
  }
  return path;
}

function openAddon(path: string, name: string): unknown {
  const module = { exports: {} };
  try {
    process.dlopen(module, path);
  } catch (error) {
    throw failure('load_failed', name, `cannot load ${path}: ${(error as Error).message}`);
  }
  return module.exports;
}

function sha256(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : createHash('sha256').update(bytes).digest('hex');
}

function unwritable(name: string, directory: string, error: unknown): P2pError {
  return failure('directory_unwritable', name, `cannot write ${name} to ${directory}: ${(error as Error).message}; make the directory writable by this user, or free some space`);
}

function failure(reason: NativeAddonFailure, addon: string, message: string): P2pError {
  return new P2pError('NATIVE_ADDON_UNUSABLE', message, { addon, reason });
}
